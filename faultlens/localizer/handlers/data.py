"""data: the statements that load the inputs and the labels; no automatic patch.

Located: the statements that load, select or scale the model's inputs and the loss's targets,
followed back from the DataLoader's dataset, the forward's input and the loss call (the
DataLoader when nothing else is found). Not patched: the summary says what to look at.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import Example, FaultHandler
from faultlens.localizer.handlers._common import locate_data


class Data(FaultHandler):
    fault_type = "data"
    summary = "input- and label-loading statements; no patch"
    EXAMPLES: list[Example] = []

    def locate(self, c: Collector) -> None:
        locate_data(c, False)
