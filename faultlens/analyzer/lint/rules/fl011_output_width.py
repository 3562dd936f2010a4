"""FL011: output layer width differs from the number of classes."""
from __future__ import annotations

import ast

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.facts import call_name
from faultlens.analyzer.lint.finding import Edit, Fix
from faultlens.analyzer.lint.rules._common import loss_calls, prediction_producer

#: scikit-learn loaders/generators with a known number of classes (sklearn docs)
_DATASET_CLASSES = {"load_iris": 3, "load_wine": 3, "load_digits": 10, "load_breast_cancer": 2,
                    "make_moons": 2, "make_circles": 2}
_CLASS_HP = ("num_classes", "n_classes", "nclasses", "classes", "n_class", "num_class", "n_labels", "num_labels")


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class OutputWidthMismatch(LintRule):
    code = "FL011"
    name = "output-width-mismatch"
    severity = "error"
    fault_type = "architecture"
    summary = "the output layer's width differs from the number of classes (when both resolve)"
    rationale = ("CrossEntropyLoss/NLLLoss need one logit per class. With fewer outputs than "
                 "classes the loss fails with 'Target n is out of bounds' on some batches; with more "
                 "the extra logits silently waste probability mass and accuracy metrics over "
                 "argmax can pick classes that do not exist.")
    fix_summary = "set the output layer's out_features to the number of classes"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn
            from sklearn.datasets import load_iris

            X, y = load_iris(return_X_y=True)
            X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 2)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
            for epoch in range(50):
                optimizer.zero_grad()
                loss = criterion(model(X), y)
                loss.backward()
                optimizer.step()
            """, line=12, fixed="""
            import torch
            import torch.nn as nn
            from sklearn.datasets import load_iris

            X, y = load_iris(return_X_y=True)
            X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 3)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
            for epoch in range(50):
                optimizer.zero_grad()
                loss = criterion(model(X), y)
                loss.backward()
                optimizer.step()
            """),
        Invalid("""
            import torch
            import torch.nn as nn

            NUM_CLASSES = 10

            model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 64), torch.randint(0, NUM_CLASSES, (8,))
            for epoch in range(3):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=6, fixed="""
            import torch
            import torch.nn as nn

            NUM_CLASSES = 10

            model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 64), torch.randint(0, NUM_CLASSES, (8,))
            for epoch in range(3):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="a num_classes constant"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            NUM_CLASSES = 10

            class Net(nn.Module):
                def __init__(self, num_classes=NUM_CLASSES):
                    super().__init__()
                    self.fc = nn.Linear(64, num_classes)

                def forward(self, x):
                    return self.fc(x)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 64), torch.randint(0, NUM_CLASSES, (8,))
            for epoch in range(3):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """),
    ]

    def check(self, ctx):
        n_classes, why = self._num_classes(ctx)
        if n_classes is None:
            return
        reported = set()
        for call, lt, loss in loss_calls(ctx, "CrossEntropyLoss", "NLLLoss"):
            prod = prediction_producer(ctx, call)
            layer = prod.node
            if layer is None or layer.kind != "layer" or layer.get("layer_type") not in ("Linear", "LazyLinear"):
                continue
            if layer.id in reported:
                continue
            args = layer.get("args") or {}
            key = "out_features" if "out_features" in args else ("0" if layer.get("layer_type") == "LazyLinear" else "1")
            width = _int(args.get(key))
            resolved = (layer.get("args_resolved") or {}).get(key, True) if isinstance(layer.get("args_resolved"), dict) else True
            if width is None or resolved is False or width == n_classes:
                continue
            reported.add(layer.id)
            fix = None
            span = span_tuple((layer.get("arg_spans") or {}).get(key))
            if span is not None:
                facts = ctx.facts(span[0])
                text = facts.segment(*span[1:]) if facts else ""
                if text.strip().isdigit():
                    fix = Fix(f"set out_features to {n_classes}", (Edit(span[0], *span[1:], str(n_classes)),))
            owner = ctx.node(layer.get("owner"))
            mp = layer.get("module_path") or layer.get("attr") or layer.name
            if owner is not None and owner.kind == "model":
                name = f"{owner.get('var') or owner.name}[{mp}]" if mp.isdigit() else f"{owner.get('var')}.{mp}"
            elif owner is not None:
                name = f"{owner.name}.{mp}"
            else:
                name = mp
            msg = (f"output layer {name} has {width} outputs but the data has {n_classes} classes "
                   f"({why}); {lt} needs one logit per class")
            yield self.finding(ctx, span or layer, msg, node=layer.id, fix=fix)

    @staticmethod
    def _num_classes(ctx) -> tuple[int | None, str]:
        """The class count: from a known dataset loader when the program uses one (that is the
        ground truth, and a wrong NUM_CLASSES constant is then the fault), else from a single
        resolved num_classes-like hyperparameter."""
        cands: dict[int, str] = {}
        hps: dict[int, str] = {}
        for hp in ctx.nodes("hyperparameter"):
            name = (hp.get("hp") or hp.name or "").lower()
            if name in _CLASS_HP and hp.get("resolved") and _int(hp.get("value")):
                hps.setdefault(hp.get("value"), f"{hp.name} = {hp.get('value')}")
        for rel in getattr(ctx.graph, "files", []) or []:
            facts = ctx.facts(rel)
            if facts is None:
                continue
            for c in facts.calls:
                nm = call_name(c)
                n = None
                if nm in _DATASET_CLASSES:
                    n = _DATASET_CLASSES[nm]
                    kw = {k.arg: k.value for k in c.keywords}
                    if nm == "load_digits" and "n_class" in kw:
                        v = kw["n_class"]
                        n = v.value if isinstance(v, ast.Constant) and isinstance(v.value, int) else None
                elif nm == "make_classification":
                    kw = {k.arg: k.value for k in c.keywords}
                    v = kw.get("n_classes")
                    n = 2 if v is None else (v.value if isinstance(v, ast.Constant) and isinstance(v.value, int) else None)
                elif nm == "make_blobs":
                    kw = {k.arg: k.value for k in c.keywords}
                    v = kw.get("centers")
                    n = 3 if v is None else (v.value if isinstance(v, ast.Constant) and isinstance(v.value, int) else None)
                if n is not None:
                    cands.setdefault(n, f"{nm}() has {n} classes")
        if not cands:
            cands = hps
        if len(cands) != 1:
            return None, ""
        n, why = next(iter(cands.items()))
        return n, why
