"""Loading the program and naming what its names refer to: the entry file and the local files
it imports (indexed once each, ``faultlens.analyzer.index``), and the qualification of a dotted
name through a file's import table (a local class or function, an external qualified name such
as ``torch.nn.Linear``, a local module: the dataclasses of ``faultlens.analyzer.refs``).
A pass mixed into ``Builder``."""
from __future__ import annotations

import os

import libcst as cst

from faultlens.analyzer import frameworks as FW
from faultlens.analyzer import names as N
from faultlens.analyzer.index import ClassInfo, FileInfo, index_file, resolve_local_module
from faultlens.analyzer.names import dotted
from faultlens.analyzer.refs import Callee, External, LocalClass, LocalFunction, LocalModule, ModuleVar, Qualified
from faultlens.analyzer.source import parse_path, parse_source
from faultlens.analyzer.state import BuildState

_TRANSFORM_CLASSES = {"StandardScaler", "MinMaxScaler", "RobustScaler", "Normalizer", "MaxAbsScaler",
                      "Normalize", "QuantileTransformer", "PowerTransformer"}


class Loading(BuildState):
    def load(self, entry_abs: str, source: str | None = None, entry_text: str | None = None) -> FileInfo:
        """``entry_text``: the text to parse for the entry file at ``entry_abs`` instead of
        reading it (the lint path's text with unreachable statements blanked, same lines)."""
        rel = os.path.relpath(entry_abs, self.root) if source is None else entry_abs
        rel = rel.replace(os.sep, "/")
        if source is None and entry_text is not None:
            pf = parse_source(entry_text, rel)
        else:
            pf = parse_path(entry_abs, rel) if source is None else parse_source(source, rel)
        entry = index_file(pf, entry_abs if source is None else os.path.join(self.root, "<source>"), True)
        self._register(entry)
        self.g.entry = rel
        search = [os.path.dirname(entry.abspath), self.root]
        queue = [entry]
        while queue:
            fi = queue.pop(0)
            for modname, level, spec in fi.local_imports:
                for abs_path, alias, kind, member in self._import_targets(fi, modname, level, spec, search):
                    if abs_path not in self.files:
                        r = os.path.relpath(abs_path, self.root).replace(os.sep, "/")
                        sub = index_file(parse_path(abs_path, r, allow_empty=True), abs_path, False)
                        self._register(sub)
                        queue.append(sub)
                    target = self.files[abs_path]
                    if kind == "star":
                        fi.imports.setdefault("*" + target.rel, ("star", target.rel))
                    elif kind == "mod":
                        fi.imports[alias] = ("localmod", target.rel)
                    else:
                        fi.imports[alias] = ("local", target.rel, member)
        return entry

    def _register(self, fi: FileInfo) -> None:
        self.files[fi.abspath] = fi
        self.by_rel[fi.rel] = fi
        self.g.files.append(fi.rel)
        self.g.file_hashes[fi.rel] = fi.parsed.sha256

    def _import_targets(self, fi, modname, level, spec, search):
        out = []
        if spec == "" or (spec and ":" not in spec and spec != "*"):
            p = resolve_local_module(modname, level, fi.abspath, self.root, search)
            if p:
                alias = spec if spec else modname
                out.append((p, alias, "mod", None))
            return out
        if spec == "*":
            p = resolve_local_module(modname, level, fi.abspath, self.root, search)
            if p:
                out.append((p, "*", "star", None))
            return out
        member, alias = spec.split(":", 1)
        sub = resolve_local_module(f"{modname}.{member}" if modname else member, level, fi.abspath, self.root, search)
        if sub:
            out.append((sub, alias, "mod", None))
            return out
        p = resolve_local_module(modname, level, fi.abspath, self.root, search)
        if p:
            out.append((p, alias, "member", member))
        return out

    # ---------------------------------------------------------------- names
    def qualify(self, fi: FileInfo, key: str | None, depth: int = 0) -> Qualified | None:
        """What dotted name ``key`` names in file ``fi`` (``faultlens.analyzer.refs``); None when
        nothing the file defines or imports."""
        if not key or depth > 8 or "[" in key:
            return None
        parts = key.split(".")
        h = parts[0]
        if h in fi.classes:
            return LocalClass(fi.classes[h]) if len(parts) == 1 else None
        if h in fi.functions:
            return LocalFunction(fi.functions[h]) if len(parts) == 1 else None
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            t = fi.imports.get(prefix)
            if t is None:
                continue
            rest = parts[i:]
            if t[0] == "ext":
                return External(".".join([t[1]] + rest))
            if t[0] == "localmod":
                target = self.by_rel[t[1]]
                if not rest:
                    return LocalModule(target)
                return self.qualify(target, ".".join(rest), depth + 1)
            if t[0] == "local":
                target = self.by_rel[t[1]]
                return self.qualify(target, ".".join([t[2]] + rest), depth + 1)
        for t in fi.imports.values():
            if t[0] == "star":
                target = self.by_rel[t[1]]
                if h in target.classes or h in target.functions:
                    return self.qualify(target, key, depth + 1)
        if len(parts) == 1 and fi.module_scope and h in fi.module_scope.defs:
            return ModuleVar(fi, h)
        return None

    def ext(self, fi: FileInfo, key: str | None) -> str | None:
        q = self.qualify(fi, key)
        return q.qualname if isinstance(q, External) else None

    def classify_callee(self, fi: FileInfo, func: cst.CSTNode) -> Callee | None:
        """What a constructor/function callee is (``faultlens.analyzer.refs.Callee``); None for
        a name the file does not define or import, a local module or variable, and the torch.nn
        base classes (``Module``, ``Parameter``, ...)."""
        q = self.qualify(fi, dotted(func))
        if isinstance(q, LocalClass):
            ci = q.cls
            if self.is_module(ci):
                if ci.name.endswith("Loss"):
                    return Callee("loss", ci.name, cls=ci)
                return Callee("module", ci.name, cls=ci)
            return Callee("class", ci.name, cls=ci)
        if isinstance(q, LocalFunction):
            return Callee("func", q.fn.qualname, fn=q.fn)
        if not isinstance(q, External):
            return None
        qual = q.qualname
        last = qual.split(".")[-1]
        if qual.startswith("torch.nn.functional."):
            return Callee("functional", last)
        if qual.startswith("torch.nn.init."):
            return Callee("init", last)
        if qual.startswith("torch.nn.utils."):
            return Callee("nnutils", last)
        if qual.startswith("torch.optim.lr_scheduler."):
            return Callee("scheduler", last)
        if qual.startswith("torch.optim.") and last[:1].isupper() and last != "Optimizer":
            return Callee("optimizer", last)
        if qual.startswith("torch.utils.data") and last == "DataLoader":
            return Callee("dataloader", last)
        if (qual.startswith("torch.nn.") and qual.count(".") == 2 or qual.startswith("torch.nn.modules.")) \
                and last[:1].isupper():
            if last.endswith("Loss"):
                return Callee("loss", last)
            if last in ("Module", "Parameter", "ParameterList", "ParameterDict"):
                return None
            return Callee("layer", last)
        if last in _TRANSFORM_CLASSES and (qual.startswith("sklearn.") or ".transforms." in qual
                                           or qual.startswith("transforms.")):
            return Callee("transform", last)
        if qual.startswith("torch.") and qual.count(".") == 1:
            return Callee("torchfn", last)
        trainer = FW.trainer_type(qual)  # Lightning / Hugging Face trainers (analyzer/frameworks.py)
        if trainer is not None:
            return Callee("trainer", trainer)
        return Callee("ext", qual)

    def is_module(self, ci: ClassInfo, stack: frozenset = frozenset()) -> bool:
        if ci.is_module is not None:
            return ci.is_module
        if id(ci) in stack:
            return False
        result = False
        for b in ci.bases:
            q = self.qualify(ci.file, dotted(b))
            if isinstance(q, External):
                qual = q.qualname
                if qual in N.MODULE_BASES or (qual.startswith("torch.nn.") and qual.split(".")[-1][:1].isupper()
                                              and not qual.startswith("torch.nn.functional")) \
                        or FW.is_lightning_base(qual):
                    result = True
                    ci.module_base = ci.module_base or qual
            elif isinstance(q, LocalClass):
                if self.is_module(q.cls, stack | {id(ci)}):
                    result = True
                    ci.local_bases.append(q.cls)
        ci.is_module = result
        return result
