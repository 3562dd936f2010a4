"""Names: dotted-name extraction, import tables and the PyTorch API catalogue.

The analyzer does not use libcst's ScopeProvider/QualifiedNameProvider (slow); it keeps a
per-file import table instead and qualifies dotted names itself:
``nn.Linear`` with ``import torch.nn as nn`` -> ``torch.nn.Linear``. The catalogues below
list the PyTorch classes/functions the graph recognises; their positional parameter names
follow the signatures in the PyTorch 2.x documentation (torch.nn, torch.optim,
torch.optim.lr_scheduler, torch.utils.data.DataLoader).
"""
from __future__ import annotations

import dataclasses
import re

import libcst as cst

from faultlens.taxonomy import (  # noqa: F401 (the analyzer's catalogue: builder/walker read them here)
    FUNCTIONAL_LOSSES, OPTIMIZER_DEFAULT_LR, OPTIMIZER_PARAMS,
)


_SKIP_FIELDS = {"lpar", "rpar", "comma", "dot", "equal", "colon", "semicolon", "lbracket", "rbracket",
                "lbrace", "rbrace", "leading_lines", "lines_after_decorators", "newline", "header", "footer",
                "operator", "as_", "asname_whitespace", "lines_after", "trailing_whitespace"}
_FIELDS: dict[type, tuple[str, ...]] = {}


def child_nodes(node: cst.CSTNode):
    """The child nodes of ``node`` that carry code (no whitespace/punctuation), in field order.

    libcst's ``children`` property and visitors rebuild nodes and are far slower; the
    analyzer only reads, so it walks the dataclass fields directly."""
    cls = type(node)
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls)
                      if not f.name.startswith("whitespace") and f.name not in _SKIP_FIELDS)
        _FIELDS[cls] = names
    for name in names:
        v = getattr(node, name)
        if isinstance(v, cst.CSTNode):
            yield v
        elif isinstance(v, (list, tuple)):
            for x in v:
                if isinstance(x, cst.CSTNode):
                    yield x


def iter_nodes(node: cst.CSTNode, skip_defs: bool = False):
    """Pre-order walk of ``node`` and its descendants (optionally not entering nested defs)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if skip_defs and n is not node and isinstance(n, (cst.FunctionDef, cst.ClassDef)):
            continue
        kids = list(child_nodes(n))
        kids.reverse()
        stack.extend(kids)


def dotted(node: cst.CSTNode | None) -> str | None:
    """``a.b.c`` for Name/Attribute chains, ``a['k']`` / ``a.b['k']`` for string subscripts."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        el = node.slice[0].slice
        if isinstance(el, cst.Index) and isinstance(el.value, cst.SimpleString):
            base = dotted(node.value)
            key = el.value.evaluated_value
            if base is not None and isinstance(key, str):
                return f"{base}[{key!r}]"
    return None


def head(key: str) -> str:
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def names_in(node: cst.CSTNode) -> set[str]:
    """All plain names and dotted names used in an expression (for def-use matching)."""
    out: set[str] = set()
    for n in iter_nodes(node):
        if isinstance(n, cst.Name):
            out.add(n.value)
        elif isinstance(n, cst.Attribute):
            d = dotted(n)
            if d:
                out.add(d)
    return out


def uses_detach(node: cst.CSTNode) -> bool:
    """True when the expression calls ``.detach()`` or reads ``.data``."""
    return any(isinstance(n, cst.Attribute) and n.attr.value in ("detach", "data", "detach_")
               for n in iter_nodes(node))


def mentions_attr(node: cst.CSTNode, attr: str) -> bool:
    return any(isinstance(n, cst.Attribute) and n.attr.value == attr for n in iter_nodes(node))


# ------------------------------------------------------------------ catalogue
TORCH_NN = "torch.nn"
FUNCTIONAL = "torch.nn.functional"
INIT = "torch.nn.init"
OPTIM = "torch.optim"
SCHED = "torch.optim.lr_scheduler"

MODULE_BASES = {"torch.nn.Module", "torch.nn.modules.module.Module"}
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}

# FUNCTIONAL_LOSSES, OPTIMIZER_PARAMS, OPTIMIZER_DEFAULT_LR: faultlens.taxonomy (imported above)

SCHEDULER_PARAMS = {
    "StepLR": ["optimizer", "step_size", "gamma"],
    "MultiStepLR": ["optimizer", "milestones", "gamma"],
    "ExponentialLR": ["optimizer", "gamma"],
    "CosineAnnealingLR": ["optimizer", "T_max", "eta_min"],
    "CosineAnnealingWarmRestarts": ["optimizer", "T_0", "T_mult", "eta_min"],
    "ReduceLROnPlateau": ["optimizer", "mode", "factor", "patience", "threshold"],
    "OneCycleLR": ["optimizer", "max_lr", "total_steps", "epochs", "steps_per_epoch"],
    "LambdaLR": ["optimizer", "lr_lambda"],
    "MultiplicativeLR": ["optimizer", "lr_lambda"],
    "CyclicLR": ["optimizer", "base_lr", "max_lr", "step_size_up"],
    "LinearLR": ["optimizer", "start_factor", "end_factor", "total_iters"],
    "ConstantLR": ["optimizer", "factor", "total_iters"],
    "PolynomialLR": ["optimizer", "total_iters", "power"],
}

DATALOADER_PARAMS = ["dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers",
                     "collate_fn", "pin_memory", "drop_last"]

LAYER_PARAMS = {
    "Linear": ["in_features", "out_features", "bias"],
    "Bilinear": ["in1_features", "in2_features", "out_features"],
    "Conv1d": ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
    "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
    "Conv3d": ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
    "ConvTranspose1d": ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
    "ConvTranspose2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
    "Dropout": ["p", "inplace"], "Dropout1d": ["p", "inplace"], "Dropout2d": ["p", "inplace"],
    "Dropout3d": ["p", "inplace"], "AlphaDropout": ["p", "inplace"],
    "BatchNorm1d": ["num_features", "eps", "momentum"], "BatchNorm2d": ["num_features", "eps", "momentum"],
    "BatchNorm3d": ["num_features", "eps", "momentum"], "LayerNorm": ["normalized_shape", "eps"],
    "GroupNorm": ["num_groups", "num_channels", "eps"],
    "Embedding": ["num_embeddings", "embedding_dim", "padding_idx"],
    "LSTM": ["input_size", "hidden_size", "num_layers"], "GRU": ["input_size", "hidden_size", "num_layers"],
    "RNN": ["input_size", "hidden_size", "num_layers", "nonlinearity"],
    "LSTMCell": ["input_size", "hidden_size"], "GRUCell": ["input_size", "hidden_size"],
    "MaxPool1d": ["kernel_size", "stride", "padding"], "MaxPool2d": ["kernel_size", "stride", "padding"],
    "AvgPool2d": ["kernel_size", "stride", "padding"], "AdaptiveAvgPool2d": ["output_size"],
    "LeakyReLU": ["negative_slope", "inplace"], "ELU": ["alpha", "inplace"], "ReLU": ["inplace"],
    "Softmax": ["dim"], "LogSoftmax": ["dim"], "Softmin": ["dim"], "Flatten": ["start_dim", "end_dim"],
    "Unflatten": ["dim", "unflattened_size"], "Hardtanh": ["min_val", "max_val"],
    "TransformerEncoderLayer": ["d_model", "nhead", "dim_feedforward", "dropout"],
}

#: tensor methods / torch functions recorded as forward ops
TENSOR_METHOD_OPS = {
    "view", "reshape", "flatten", "relu", "relu_", "sigmoid", "tanh", "softmax", "log_softmax",
    "squeeze", "unsqueeze", "permute", "transpose", "exp", "log", "clamp", "mean", "sum",
    "sqrt", "abs", "matmul", "mm", "bmm", "view_as", "expand", "repeat", "max", "min", "argmax",
    "contiguous", "t", "pow", "tanh_", "sigmoid_", "neg", "norm", "chunk", "split",
}
TORCH_FUNCTION_OPS = {
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "cat", "stack", "exp", "log",
    "sum", "mean", "matmul", "mm", "bmm", "transpose", "squeeze", "unsqueeze", "reshape", "clamp",
    "sqrt", "abs", "max", "min", "argmax", "dropout", "permute", "tanh_", "erf", "pow", "norm",
    "chunk", "split", "einsum", "where", "maximum", "minimum", "logsumexp",
}
#: ops whose ``dim`` sits at a positional index (functional form / tensor-method form)
DIM_INDEX_FUNCTION = {"softmax": 1, "log_softmax": 1, "cat": 1, "stack": 1, "flatten": 1, "softmin": 1,
                      "sum": 1, "mean": 1, "squeeze": 1, "unsqueeze": 1, "argmax": 1, "max": 1,
                      "min": 1, "logsumexp": 1, "chunk": 2, "normalize": 2}
DIM_INDEX_METHOD = {"softmax": 0, "log_softmax": 0, "flatten": 0, "sum": 0, "mean": 0, "squeeze": 0,
                    "unsqueeze": 0, "argmax": 0, "max": 0, "min": 0, "softmin": 0, "chunk": 1}
DIM_KEYWORDS = ("dim", "start_dim", "axis")

INIT_SUFFIX_FNS = {"fill_", "zero_", "normal_", "uniform_", "constant_", "copy_"}

TRAINING_METHODS = {"zero_grad", "backward", "step", "train", "eval", "load_state_dict"}
GRAD_CONTEXTS = {
    "torch.no_grad": "no_grad", "torch.inference_mode": "inference_mode",
    "torch.enable_grad": "enable_grad", "torch.set_grad_enabled": "set_grad_enabled",
    "torch.autograd.no_grad": "no_grad", "torch.autograd.grad_mode.no_grad": "no_grad",
}

#: canonical hyperparameter names
_HP_ALIASES = {
    "lr": "lr", "learning_rate": "lr", "learningrate": "lr", "base_lr": "lr", "init_lr": "lr",
    "batch_size": "batch_size", "batchsize": "batch_size", "bs": "batch_size", "train_batch_size": "batch_size",
    "epochs": "epochs", "epoch": "epochs", "n_epochs": "epochs", "num_epochs": "epochs",
    "nepochs": "epochs", "max_epochs": "epochs", "nb_epochs": "epochs", "niter": "epochs",
    "momentum": "momentum", "weight_decay": "weight_decay", "wd": "weight_decay",
    "l2": "weight_decay", "dropout": "dropout", "dropout_rate": "dropout", "drop_rate": "dropout",
    "dropout_p": "dropout", "drop_prob": "dropout", "p_dropout": "dropout",
    "hidden_size": "hidden_size", "hidden": "hidden_size", "hidden_dim": "hidden_size",
    "nhid": "hidden_size", "n_hidden": "hidden_size", "hidden_units": "hidden_size",
    "num_hidden": "hidden_size", "hidden_layer_size": "hidden_size",
    "num_classes": "num_classes", "n_classes": "num_classes", "nclasses": "num_classes",
    "classes": "num_classes", "output_size": "num_classes", "n_outputs": "num_classes",
    "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size",
}


CANONICAL_HPS = frozenset(_HP_ALIASES.values())


def canonical_hp(name: str) -> str:
    """Canonical hyperparameter name for a variable/argument/dest name."""
    base = name.split(".")[-1].split("[")[-1].strip("'\"]").lstrip("-").replace("-", "_")
    low = base.lower()
    return _HP_ALIASES.get(low, base)
