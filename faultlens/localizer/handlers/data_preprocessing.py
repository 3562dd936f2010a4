"""data_preprocessing: the transforms and the statements that load the inputs; standardising.

Located: the transforms (the graph's transform objects, at most two; then up to four scaling
transform calls and ``transform=`` arguments, each at its own line, so a ``Normalize`` inside a
multi-line ``Compose`` or a test set built with another transform is named where it is written),
then the statements that load or scale the model's
inputs (the targets too for ``target_out_of_range``), followed back from the DataLoader's
dataset and the forward's input. Patched: the loaded input array standardised per feature
just before it is passed on as data (``X = (X - X.mean(0)) / (X.std(0) + 1e-8)``), so labels
the program computed from the raw values stay as written; a Dataset object, or an array read
raw first, gets the tensor each loop feeds the model standardised with the training inputs'
mean and std that the run measured.
"""
from __future__ import annotations

import ast
import re
from typing import Any

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import InsertStmt
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import graph_node, locate_data
from faultlens.localizer.patches import CommandLine


class DataPreprocessing(FaultHandler):
    fault_type = "data_preprocessing"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            train_tf = transforms.Compose([
                transforms.ToTensor(),
                transforms.Normalize((0.5,), (0.5,)),
            ])
            train = datasets.FakeData(size=64, image_size=(1, 8, 8), num_classes=2, transform=train_tf)
            test = datasets.FakeData(size=32, image_size=(1, 8, 8), num_classes=2,
                                     transform=transforms.ToTensor())
            loader = DataLoader(train, batch_size=16)
            model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(3):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("data", 6), ("data", 7), ("data", 9), ("data", 11), ("data", 5)),
            detections=(("preprocessing_mismatch", {}),),
            note="train and test sets built with different transforms: each transform at its own line "
                 "(the test set's transform= argument, line 11, is where they differ)"),
        Example("""
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            train = datasets.FakeData(size=64, image_size=(1, 8, 8), num_classes=2, transform=transforms.ToTensor())
            loader = DataLoader(train, batch_size=16)
            model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(3):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("data", 5),),
            detections=(("input_out_of_range", {}),),
            note="a Dataset object: no patch without the run's measured input statistics"),
        Example("""
            import numpy as np
            import torch
            import torch.nn as nn
            X = np.random.uniform(0, 255, size=(200, 16))
            y = np.random.randint(0, 2, size=200)
            Xt = torch.tensor(X, dtype=torch.float32)
            yt = torch.tensor(y)
            model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(Xt), yt)
                loss.backward()
                optimizer.step()
            """,
            lines=(("data", 6), ("data", 4)),
            detections=(("input_out_of_range", {}),),
            diff="""
            faultlens: data_preprocessing: standardise X (zero mean, unit variance per feature) before it is used as data
            --- ./example.py
            +++ ./example.py
            @@ -3,6 +3,8 @@
             import torch.nn as nn
             X = np.random.uniform(0, 255, size=(200, 16))
             y = np.random.randint(0, 2, size=200)
            +# faultlens: standardise X (zero mean, unit variance per feature) before it is used as data
            +X = (X - X.mean(0)) / (X.std(0) + 1e-8)
             Xt = torch.tensor(X, dtype=torch.float32)
             yt = torch.tensor(y)
             model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
            """,
            note="raw pixel-range inputs, standardised before the tensor conversion"),
    ]

    def locate(self, c: Collector) -> None:
        locate_data(c, True)

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        # an array loaded in the program: standardise it per feature before it becomes data (train
        # and test splits made from it then share the scaling); data statements first
        def key(l):
            line = (src.lines(l.abspath) or [""])[l.line - 1] if l.line - 1 < len(src.lines(l.abspath)) else ""
            return (0 if src.DATA_CALL.search(line) else 1, l.line)
        for l in sorted([x for x in locations or [] if x.role == "data"], key=key):
            r = _array_standardise(g, l)
            if r == _STOP:
                break  # the statements after it may be the labels made from it: none is edited
            if r is not None:
                return r
        # a Dataset object, or an array whose raw values the program reads first: at the feed
        return _feed_standardise(g, tv)


#: calls that pass an array on as data (a split, a tensor conversion, a dataset or loader):
#: standardising just before the first of them leaves what the program computed from the raw
#: values before it (labels made by thresholding a feature) as the program wrote it
_DATA_WRAP = re.compile(
    r"\b(train_test_split|TensorDataset|DataLoader|from_numpy|as_tensor|tensor|Tensor|FloatTensor|"
    r"DoubleTensor|astype|to|float|double|reshape|view)\s*\(")


#: constructors whose value is a Dataset/DataLoader object, not an array: ``.mean(0)`` on it fails
_DATASET_CALL = re.compile(r"(Dataset|DataLoader|Loader|Folder|MNIST|CIFAR\d*|FakeData|ImageNet|SVHN|STL10|"
                           r"CelebA|VOC\w*|Coco\w*)$")


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    return f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")


def _is_dataset_object(g: Any, var: str, value: ast.AST) -> bool:
    """What the graph and the constructor tell of ``var``: a dataset/loader object, not an array."""
    if isinstance(value, ast.Call) and _DATASET_CALL.search(_call_name(value)):
        return True
    return any((dl.get("args") or {}).get("dataset") == var or dl.get("var") == var for dl in g.nodes("dataloader"))


def _reads(st: ast.stmt, var: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Load) for n in ast.walk(st))


_STOP = "stop"


def _array_standardise(g, l) -> tuple[str, list, str] | str | None:
    """Standardise an array variable per feature before it is passed on as data. None: not an
    array statement (try the next); ``_STOP``: an array whose raw values the program reads
    before passing it on (labels made from it), so no data statement is safe to edit."""
    found = src.stmt_at(l.abspath, l.line)
    if found is None:
        return None
    st, body, i = found
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return None
    v = st.targets[0].id
    text = src.parse(l.abspath)[0]
    if re.search(rf"\b{re.escape(v)}\.(data|target|images|values|frame)\b", text):
        return None  # a dataset container (sklearn Bunch, DataFrame), not the array itself
    if _is_dataset_object(g, v, st.value):
        return None  # a Dataset object: the transform belongs where the loop feeds its tensors
    stmt = f"{v} = ({v} - {v}.mean(0)) / ({v}.std(0) + 1e-8)\n"
    desc = f"standardise {v} (zero mean, unit variance per feature) before it is used as data"
    for later in body[i + 1:]:
        if not _reads(later, v):
            continue
        seg = ast.get_source_segment(text, later) or ""
        if isinstance(later, ast.Assign) and _DATA_WRAP.search(seg) or \
                isinstance(later, ast.Assign) and isinstance(later.value, ast.Subscript) and _reads(later.value, v):
            if later is body[i + 1]:
                return l.abspath, [InsertStmt(st.lineno, stmt, after=True)], desc
            return l.abspath, [InsertStmt(later.lineno, stmt, after=False)], desc
        return _STOP  # read first by something else (labels computed from the raw values)
    return None


def _bound_in_loop(path: str, line: int, name: str) -> bool:
    """Is ``name`` (re)bound by the loop statement at ``line``: its target or an assignment in it?"""
    found = src.stmt_at(path, line)
    if found is None or not isinstance(found[0], (ast.For, ast.While)):
        return True
    loop = found[0]
    targets = [loop.target] if isinstance(loop, ast.For) else []
    for n in ast.walk(loop):
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets.extend(n.targets if isinstance(n, ast.Assign) else [n.target])
        elif isinstance(n, (ast.For, ast.comprehension)) and n is not loop:
            targets.append(n.target)
    return any(isinstance(t, ast.Name) and t.id == name for tt in targets for t in ast.walk(tt))


def _feed_standardise(g, tv) -> EditPlan | None:
    """Standardise the tensor each loop feeds the model, with the training inputs' mean and
    std that the run measured: the same constants in training and evaluation loops, as a
    ``transforms.Normalize(mean, std)`` would apply them."""
    if tv is None:
        return None
    import numpy as np
    fwd = [c for c in g.nodes("call", method="forward") if c.get("loop") and len(c.get("inputs") or []) >= 1]
    if not fwd:
        return None
    model = fwd[0].get("target")
    nodes = [n for n in tv.nodes("input_mean") if n.split("#", 1)[0] == model] or tv.nodes("input_mean")
    if not nodes:
        return None
    mean, std = tv.series("input_mean", nodes[0])[1], tv.series("input_std", nodes[0])[1]
    if not len(mean) or not len(std):
        return None
    m, sd = float(np.median(mean)), float(np.median(std))
    if not (np.isfinite(m) and np.isfinite(sd) and sd > 0):
        return None
    edits, path, done = [], None, set()
    for c in fwd:
        x = (c.get("inputs") or [""])[0]
        if c.get("target") != model or not isinstance(x, str) or not x.isidentifier():
            continue
        ab = resolve_path(g, c.span.path)
        found = src.stmt_at(ab, c.span.line)
        if found is None or (path is not None and ab != path):
            continue
        at = found[0].lineno
        outer = graph_node(g, (c.get("loops") or [c.get("loop")])[0])
        if outer is not None and not _bound_in_loop(ab, outer.span.line, x):
            # a tensor made once and fed whole each iteration: transform it once, before the loop
            at = outer.span.line
        if (ab, at) in done:
            continue
        path = ab
        done.add((ab, at))
        edits.append(InsertStmt(at, f"{x} = ({x} - {m:.4g}) / {sd:.4g}\n", after=False))
    if not edits:
        return None
    return path, edits, (f"standardise the model's input where each loop feeds it (mean {m:.4g}, std {sd:.4g} "
                         f"measured on the training inputs), in {len(edits)} place(s)")
