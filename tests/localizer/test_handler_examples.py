"""Every fault handler's own example programs, run through the real graph builder, localize()
and make_patch(): the located (role, line) pairs and the patch diff must be exactly the ones the
example states (the lint rules' VALID / INVALID examples work the same way)."""
from __future__ import annotations

import sys

import pytest

from faultlens.analyzer import build_graph
from faultlens.localizer import localize
from faultlens.localizer.handlers import CRASH, HANDLERS, FaultHandler, all_handlers, handler_for
from faultlens.localizer.patches import make_patch
from faultlens.models.diagnosis import FaultCandidate
from faultlens.models.symptoms import Detection
from faultlens.taxonomy import FAULT_TYPES

HANDLER_LIST = all_handlers()
#: the crash statement's examples run as this fault type
CRASH_FAULT_TYPE = "architecture"

CASES = [pytest.param(h.fault_type, h.EXAMPLES[i], id=f"{h.fault_type}-{i}")
         for h in HANDLER_LIST for i in range(len(h.EXAMPLES))]
CASES += [pytest.param(CRASH_FAULT_TYPE, ex, id=f"crash-{i}") for i, ex in enumerate(CRASH.EXAMPLES)]


def test_one_well_formed_handler_per_fault_type():
    assert [h.fault_type for h in HANDLER_LIST] == sorted(FAULT_TYPES)
    assert set(HANDLERS) == set(FAULT_TYPES)
    for h in HANDLER_LIST:
        assert isinstance(h, FaultHandler) and handler_for(h.fault_type) is h
        assert sys.modules[type(h).__module__].__doc__, h.fault_type
        assert h.EXAMPLES, f"{h.fault_type} needs examples"
        # a handler that patches shows a patch in one example at least
        if type(h).patch is not FaultHandler.patch:
            assert any(ex.diff is not None for ex in h.EXAMPLES), h.fault_type
        else:
            assert all(ex.diff is None for ex in h.EXAMPLES), h.fault_type
    assert CRASH.EXAMPLES
    with pytest.raises(KeyError):
        handler_for("not_a_fault_type")


@pytest.mark.parametrize("ftype,ex", CASES)
def test_example_located_and_patched(tmp_path, ftype, ex):
    path = tmp_path / "example.py"
    path.write_text(ex.source)
    graph = build_graph(str(path))
    dets = [Detection(name, 5, None, 1.0, "", "failure", 1.0, dict(details)) for name, details in ex.detections]
    fault = FaultCandidate(ftype, 0.9, 0.9, "", [], list(ex.nodes), dets)
    locs = localize(fault, graph, crash=ex.crash, cwd=str(tmp_path))
    assert [(l.role, l.line) for l in locs] == list(ex.lines), ex.note
    assert all(l.path == "example.py" for l in locs)
    patch = make_patch(fault, graph, locations=locs, cwd=str(tmp_path))
    if ex.expected_diff is None:
        assert patch is None, f"{ex.note}: unexpected patch {patch.description if patch else ''}"
        return
    assert patch is not None, f"{ex.note}: expected a patch"
    assert patch.diff == ex.expected_diff, patch.diff
    compile(patch.new_source, "patched", "exec")  # a patch never breaks the program
    assert path.read_text() == ex.source  # make_patch never writes the file
