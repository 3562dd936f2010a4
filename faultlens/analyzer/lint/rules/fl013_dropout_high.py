"""FL013: dropout probability >= 0.5 on hidden layers."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.taxonomy import AFFINE_LAYERS

_DROPOUT = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}


def _num(v):
    if isinstance(v, str):  # op arguments are kept as source text
        try:
            return float(v)
        except ValueError:
            return None
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class DropoutTooHigh(LintRule):
    code = "FL013"
    name = "dropout-too-high"
    severity = "warning"
    fault_type = "regularization"
    summary = "dropout probability p >= 0.5 on a hidden layer (p >= 1 drops everything: error)"
    rationale = ("p is the probability of *zeroing* a unit (PyTorch convention, unlike Keras/TF1's "
                 "keep_prob). p >= 0.5 on small hidden layers removes most of the signal and "
                 "under-fits; it often comes from passing a keep probability. p = 1 zeros every "
                 "activation. Srivastava et al. (2014) use 0.5 only for wide fully-connected layers.")
    fix_summary = ""
    INVALID = [
        Invalid("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.8), nn.Linear(64, 2))
            """, line=3),
        Invalid("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(p=0.5), nn.Linear(16, 2))
            """, line=3, note="p = 0.5 drops half the units (not most)"),
        Invalid("""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(20, 64)
                    self.fc2 = nn.Linear(64, 2)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = F.dropout(x, p=0.9, training=self.training)
                    return self.fc2(x)

            model = Net()
            """, line=12),
    ]
    VALID = [
        Valid("""
            import torch.nn as nn

            model = nn.Sequential(nn.Dropout(0.5), nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 2))
            """, note="input dropout is not a hidden layer; 0.2 on the hidden layer"),
    ]

    def check(self, ctx):
        for lay in ctx.nodes("layer"):
            if lay.get("layer_type") not in _DROPOUT:
                continue
            args = lay.get("args") or {}
            key = "p" if "p" in args else "0"
            p = _num(args.get(key))
            if p is None or p < 0.5 or not self._hidden(ctx, lay):
                continue
            where = span_tuple((lay.get("arg_spans") or {}).get(key)) or lay
            yield self._report(ctx, where, lay, p)
        for op in ctx.nodes("op"):
            if op.get("op") not in ("dropout", "dropout1d", "dropout2d", "alpha_dropout"):
                continue
            args = op.get("args") or {}
            key = "p" if "p" in args else "1"
            p = _num(args.get(key))
            if p is None or p < 0.5 or not self._hidden(ctx, op):
                continue
            where = span_tuple((op.get("arg_spans") or {}).get(key)) or op
            yield self._report(ctx, where, op, p)

    def _report(self, ctx, where, node, p):
        if p >= 1:
            return self.finding(ctx, where, f"dropout p={p:g} zeroes every activation", node=node.id,
                                severity="error")
        # p is the probability of zeroing each unit (torch.nn.Dropout docs): the share dropped per
        # step is p on average, so only p > 0.5 drops most units
        share = "half of its units" if p == 0.5 else f"most of its units (on average {p:.0%})"
        return self.finding(ctx, where, (f"dropout p={p:g} on a hidden layer drops {share} in each training "
                                         f"step (p is the drop probability, not keep_prob); on a small layer "
                                         f"this under-fits, 0.1-0.3 is common there"), node=node.id)

    @staticmethod
    def _hidden(ctx, node) -> bool:
        """Preceded by a Linear/Conv layer in its container or in the forward flow."""
        parent = ctx.node(node.get("parent"))
        if parent is not None:
            kids = ctx.sequential_children(parent)
            ids = [k.id for k in kids]
            if node.id in ids:
                return any(k.get("layer_type") in AFFINE_LAYERS or k.get("class_ref") for k in kids[: ids.index(node.id)])
        owner = node.get("owner")
        if owner:
            flow = ctx.forward_layers(owner)
            ids = [f.id for f in flow]
            if node.id in ids:
                return any(f.kind == "layer" and (f.get("layer_type") in AFFINE_LAYERS or f.get("class_ref")
                                                  or f.get("layer_type") in ("LSTM", "GRU", "RNN", "Embedding"))
                           for f in flow[: ids.index(node.id)])
            return True  # built but position unknown: treat as hidden
        return True
