"""The run's command line, parsed statically with the program's own argparse declarations.

``faultlens run main.py -- --epochs 1`` runs the program with ``epochs = 1``, whatever the
``add_argument("--epochs", default=...)`` says. The builder records every ``add_argument``
call it resolves (option strings, ``dest``, ``action``, ``type``, ``nargs``, ``const``) as an
:class:`ArgSpec`; :func:`parse_argv` rebuilds an ``argparse.ArgumentParser`` from them and
parses the run's argv with it, so abbreviations (``--epo 1``), ``--epochs=1``, clustered short
flags and ``nargs`` behave as the program's own parser does (Python docs, "argparse — Parser
for command-line options, arguments and sub-commands").

Only what argparse would compute without running program code is computed: ``type`` is one of
``int``, ``float``, ``str``, ``bool`` or absent; a value of any other type (a function of the
program) is known to come from the command line but its converted value stays unresolved.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Sequence

#: ``type=`` callables whose conversion is the builtin's (``type=bool`` included: argparse calls
#: ``bool("False")``, which is True, and so does the program)
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_ACTIONS = {None, "store", "store_true", "store_false", "store_const", "append", "append_const", "count",
            "extend", "BooleanOptionalAction", "argparse.BooleanOptionalAction"}


@dataclass
class ArgSpec:
    """One ``add_argument`` call as the builder resolved it."""

    dest: str
    flags: list[str]
    hp: str | None = None                   # the hyperparameter node of this argument
    action: str | None = None
    type: str | None = None                 # dotted name of ``type=``
    nargs: Any = None
    const: Any = None
    const_resolved: bool = True
    known: bool = True                      # False: a keyword the builder could not resolve
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def positional(self) -> bool:
        return bool(self.flags) and not self.flags[0].startswith("-")


@dataclass
class ArgValue:
    """The value a run's argv gives one argument."""

    spec: ArgSpec
    value: Any
    resolved: bool
    tokens: list[str]                      # the argv tokens that gave it (``["--epochs", "1"]``)


class _Error(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # never print usage or exit
        raise _Error(message)

    def exit(self, status: int = 0, message: str | None = None):
        raise _Error(message or f"exit {status}")


def parse_argv(specs: Sequence[ArgSpec], argv: Sequence[str]) -> tuple[list[ArgValue], str | None]:
    """Parse ``argv`` with a parser rebuilt from ``specs``. Returns the values the command line
    gave (arguments it does not mention keep their defaults and are not listed) and an error
    text when the command line cannot be parsed statically (then no values)."""
    argv = [str(a) for a in argv]
    if not argv or not specs:
        return [], None
    parser = _Parser(add_help=False, allow_abbrev=True, conflict_handler="resolve")
    used: dict[str, ArgSpec] = {}
    opaque: set[str] = set()
    for i, s in enumerate(specs):
        if not s.known or s.action not in _ACTIONS or not s.flags:
            if s.positional or not s.flags:
                # a positional argument we cannot model shifts every later one: give up
                return [], f"cannot model argument {s.dest!r} statically"
            opaque.add(s.dest)
        key = f"a{i}"
        kw: dict[str, Any] = {"dest": key, "default": argparse.SUPPRESS}
        act = s.action
        if act in ("BooleanOptionalAction", "argparse.BooleanOptionalAction"):
            kw["action"] = argparse.BooleanOptionalAction
        elif s.dest in opaque:
            # unknown action: assume it takes one value, as a plain store does
            kw["action"] = "store"
        elif act is not None:
            kw["action"] = act
        if kw.get("action") in (None, "store", "append", "extend") and s.nargs is not None:
            kw["nargs"] = s.nargs
        if act in ("store_const", "append_const") or (s.nargs == "?" and s.const is not None):
            kw["const"] = s.const
        if kw.get("action") in (None, "store", "append", "extend"):
            conv = _TYPES.get(s.type or "str")
            kw["type"] = conv if conv is not None else str
        try:
            if s.positional:
                del kw["dest"]
                parser.add_argument(key, **kw)
            else:
                parser.add_argument(*s.flags, **kw)
        except (TypeError, ValueError, argparse.ArgumentError) as exc:
            return [], f"cannot model argument {s.dest!r}: {exc}"
        used[key] = s
    try:
        ns, _extras = parser.parse_known_args(argv)
    except (_Error, argparse.ArgumentError, TypeError, ValueError) as exc:
        return [], f"the command line does not parse with the program's arguments: {exc}"
    out = []
    for key, val in vars(ns).items():
        s = used[key]
        resolved = s.dest not in opaque and s.type in (None, *_TYPES) and s.const_resolved
        out.append(ArgValue(s, val if resolved else None, resolved, _tokens(s, argv)))
    return out, None


def _tokens(s: ArgSpec, argv: list[str]) -> list[str]:
    """The argv tokens naming ``s``: the option as typed and the values after it."""
    if s.positional:
        return []
    longs = [f for f in s.flags if f.startswith("--")]
    for i, tok in enumerate(argv):
        name = tok.split("=", 1)[0]
        if name in s.flags or (name.startswith("--") and len(name) > 2
                               and any(f.startswith(name) for f in longs)):
            if "=" in tok or s.action not in (None, "store", "append", "extend"):
                return [tok]
            if s.nargs is None:
                return argv[i:i + 2]
            j = i + 1
            while j < len(argv) and not (argv[j].startswith("-") and not _is_number(argv[j])):
                j += 1
            return argv[i:j]
    return []


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def option_text(spec: ArgSpec, value: Any) -> str:
    """The command-line words that set ``spec`` to ``value`` (``--epochs 10``)."""
    longs = [f for f in spec.flags if f.startswith("--")]
    flag = longs[0] if longs else (spec.flags[0] if spec.flags else spec.dest)
    if spec.action == "store_true" or spec.action == "store_false":
        return flag
    if isinstance(value, float):
        v = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        v = " ".join(str(x) for x in value)
    else:
        v = str(value)
    return f"{flag} {v}" if not spec.positional else v


def replace_option(argv: Sequence[str], spec: ArgSpec, value: Any) -> list[str] | None:
    """``argv`` with ``spec``'s value replaced by ``value`` (``--epochs 1`` -> ``--epochs 10``);
    None when the tokens that set it cannot be found or the value is not a single word."""
    argv = [str(a) for a in argv]
    if spec.positional or isinstance(value, (list, tuple, dict)) or spec.action not in (None, "store"):
        return None
    if spec.nargs not in (None, 1, "?"):
        return None
    text = f"{value:g}" if isinstance(value, float) else str(value)
    longs = [f for f in spec.flags if f.startswith("--")]
    out = list(argv)
    last = None
    for i, tok in enumerate(argv):
        name = tok.split("=", 1)[0]
        if name in spec.flags or (name.startswith("--") and len(name) > 2 and any(f.startswith(name) for f in longs)):
            last = i
    if last is None:
        return None
    tok = argv[last]
    if "=" in tok:
        out[last] = tok.split("=", 1)[0] + "=" + text
    elif last + 1 < len(argv):
        out[last + 1] = text
    else:
        return None
    return out
