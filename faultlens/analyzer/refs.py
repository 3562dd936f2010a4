"""What a name in the program refers to: the results of ``Loading.qualify`` (a dotted name through
a file's import table) and ``Loading.classify_callee`` (what a call's callee builds or runs).

``qualify`` gives one of :data:`Qualified`: a name outside the program (:class:`External`), a
local class (:class:`LocalClass`), a local function (:class:`LocalFunction`), a module-level
variable of a local file (:class:`ModuleVar`) or a local module (:class:`LocalModule`).
``classify_callee`` gives a :class:`Callee`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from faultlens.analyzer.index import ClassInfo, FileInfo, Scope


@dataclass(frozen=True)
class External:
    """A name outside the program, by its qualified name (``torch.nn.Linear``)."""

    qualname: str


@dataclass(frozen=True)
class LocalClass:
    """A class defined in one of the program's files."""

    cls: ClassInfo


@dataclass(frozen=True)
class LocalFunction:
    """A top-level function defined in one of the program's files."""

    fn: Scope


@dataclass(frozen=True)
class ModuleVar:
    """A variable defined at module level in local file ``file``."""

    file: FileInfo
    name: str


@dataclass(frozen=True)
class LocalModule:
    """One of the program's files, imported as a module (``import utils``)."""

    file: FileInfo


Qualified = Union[External, LocalClass, LocalFunction, ModuleVar, LocalModule]

#: what a callee is: a local ``nn.Module`` subclass (``module``; ``loss`` when its name ends in
#: ``Loss``) or other local class (``class``), a local function (``func``), or by its qualified
#: name a ``torch.nn.functional`` function (``functional``), an ``nn.init`` function (``init``),
#: an ``nn.utils`` function (``nnutils``), a scheduler, an optimizer, a ``DataLoader``
#: (``dataloader``), a torch.nn layer (``layer``) or loss (``loss``), a data transform
#: (``transform``), a top-level ``torch.`` function (``torchfn``), a framework trainer
#: (``trainer``, ``faultlens.analyzer.frameworks``), or any other external callable (``ext``)
CalleeKind = Literal["module", "loss", "class", "func", "functional", "init", "nnutils", "scheduler",
                     "optimizer", "dataloader", "layer", "transform", "torchfn", "trainer", "ext"]


@dataclass(frozen=True)
class Callee:
    """What a call's callee is. ``name``: the class name (local or the last part of the qualified
    name), a local function's qualname, ``<framework>:<class>`` for a trainer, the whole qualified
    name for ``ext``. ``cls``: the local class (``module``, ``loss``, ``class``); ``fn``: the
    local function (``func``)."""

    kind: CalleeKind
    name: str
    cls: ClassInfo | None = None
    fn: Scope | None = None
