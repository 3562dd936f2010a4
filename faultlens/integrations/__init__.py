"""Training frameworks, watched from inside: PyTorch Lightning and Hugging Face ``Trainer``.

A framework's training loop calls ``training_step``/``model(**batch)``, ``backward`` and
``optimizer.step`` itself, so the program has no loop for the rewrite to wrap and often no
variable holding its optimizer. While a run is active the runtime patches the framework's
``Trainer.__init__`` so that every trainer the program builds gets one more callback (the
user's source is not changed). The callback feeds the runtime what the rewrite's probes feed it
in a plain script: the model and its optimizers (``watch_model``/``watch_optimizer`` with
their graph nodes), one ``epoch`` event per epoch, evaluation losses. Losses, steps, gradients
and updates come from the runtime's usual hooks (``nn.Module.__call__``, ``autograd.backward``,
the global optimizer step hooks), so symptoms, diagnosis, localization and patches are those of
any program.

Nothing here imports a framework: :func:`install` patches a framework's ``Trainer`` when the
program imports the module that defines it (a post-import hook on ``sys.meta_path``), or at once
when it is already imported (a worker that ran an earlier program). :func:`reset` of the
runtime removes the hook and restores the patched ``__init__`` like every other patch.

``REGISTRY`` maps a top-level module name to its integration.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Integration:
    name: str                 # the extra that installs it: faultlens[lightning], faultlens[hf]
    trainer_module: str       # the module that defines the Trainer class
    installer: str            # "package.module:function", called as function(S, trainer_module)

    def install(self, S: Any, module: Any) -> None:
        modname, fn = self.installer.split(":")
        getattr(importlib.import_module(modname), fn)(S, module)


REGISTRY: dict[str, Integration] = {
    "lightning": Integration("lightning", "lightning.pytorch.trainer.trainer",
                             "faultlens.integrations.lightning:install"),
    "pytorch_lightning": Integration("lightning", "pytorch_lightning.trainer.trainer",
                                     "faultlens.integrations.lightning:install"),
    "transformers": Integration("hf", "transformers.trainer", "faultlens.integrations.hf:install"),
}


def install(S: Any) -> None:
    """Patch every registered framework's ``Trainer`` for run ``S``: now if its module is
    imported already, else when the program imports it."""
    waiting: dict[str, Integration] = {}
    for integ in REGISTRY.values():
        mod = sys.modules.get(integ.trainer_module)
        if mod is not None:
            _safe_install(S, integ, mod)
        else:
            waiting[integ.trainer_module] = integ
    if waiting:
        finder = _PostImport(S, waiting)
        sys.meta_path.insert(0, finder)
        S.handles.append(finder)


def _safe_install(S: Any, integ: Integration, module: Any) -> None:
    try:
        integ.install(S, module)
    except Exception as exc:  # a framework version we do not know: the run goes on unwatched
        S.disable(f"integration:{integ.name}", exc)


class _PostImport(importlib.abc.MetaPathFinder):
    """Runs an integration right after its Trainer module has executed."""

    def __init__(self, S: Any, waiting: dict[str, Integration]):
        self.S = S
        self.waiting = dict(waiting)
        self.busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        integ = self.waiting.get(fullname)
        if integ is None or fullname in self.busy:
            return None
        self.busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:
            spec = None
        finally:
            self.busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        del self.waiting[fullname]
        spec.loader = _Loader(spec.loader, lambda mod: _safe_install(self.S, integ, mod))
        return spec

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any, after: Callable[[Any], None]):
        self._inner = inner
        self._after = after

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._inner
        self._inner.exec_module(module)
        self._after(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


# ------------------------------------------------------------------ shared by the integrations
def graph_nodes(S: Any, kind: str, **where: Any) -> list[Any]:
    g = S.graph
    if g is None:
        return []
    try:
        return g.nodes(kind, **where)
    except Exception:
        return []


def node_at_caller(S: Any, kind: str, candidates: list[Any], depth: int = 3) -> Any:
    """The node among ``candidates`` whose statement is the program's line that is running the
    call (the ``Trainer(...)`` being built), found on the stack; else the first candidate."""
    import os
    g = S.graph
    if not candidates or g is None:
        return candidates[0] if candidates else None
    root = getattr(g, "root", None) or "."
    by_file: dict[str, list[Any]] = {}
    for n in candidates:
        by_file.setdefault(os.path.normcase(os.path.abspath(os.path.join(root, n.span.path))), []).append(n)
    f = sys._getframe(depth)
    hops = 0
    while f is not None and hops < 40:
        ns = by_file.get(os.path.normcase(os.path.abspath(f.f_code.co_filename)))
        if ns:
            for n in ns:
                if n.span.line <= f.f_lineno <= n.span.end_line:
                    return n
        f = f.f_back
        hops += 1
    return candidates[0]


def model_node(S: Any, model: Any) -> str | None:
    """The graph's model node for a model object the framework hands over: the model built from
    the object's local class (or a class it derives from), or one of the library class's name."""
    names = {c.__name__ for c in type(model).__mro__}
    qual = {getattr(c, "__qualname__", "") for c in type(model).__mro__}
    g = S.graph
    best = None
    for m in graph_nodes(S, "model"):
        cls = m.get("class")
        if isinstance(cls, str) and g is not None and cls in g:
            cn = g.node(cls)
            ok = (cn.get("qualname") or cn.name) in qual
        else:
            ok = isinstance(cls, str) and cls.split(".")[-1] in names
        if ok and (best is None or (m.get("var") and not best.get("var"))):
            best = m
    return best.id if best is not None else None


def watch(S: Any, model: Any = None, optimizers: list[tuple[Any, str | None]] = (),
          scheduler: list[tuple[Any, str | None]] = ()) -> None:
    """Watch what a framework built, with the graph's nodes (the runtime skips what it watches
    already, and names an optimizer it has seen step without a node)."""
    from faultlens.instrumenter import runtime as rt
    if model is not None and id(model) not in S.models:
        rt.watch_model(model, node=model_node(S, model))
    for opt, node in optimizers:
        rt.watch_optimizer(opt, node=node)
    for sch, node in scheduler:
        if sch is not None:
            rt.watch_scheduler(sch, node=node)


def match_optimizers(opts: list[Any], nodes: list[Any]) -> list[tuple[Any, str | None]]:
    """Pair the framework's optimizer objects with graph optimizer nodes: by type, in order."""
    free = list(nodes)
    out = []
    for o in opts:
        tname = type(o).__name__
        hit = next((n for n in free if n.get("optimizer_type") == tname), None)
        if hit is None and len(opts) == 1 and len(free) == 1:
            hit = free[0]
        if hit is not None:
            free.remove(hit)
        out.append((o, hit.id if hit is not None else None))
    return out
