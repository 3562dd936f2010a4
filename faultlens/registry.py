"""One registry mechanism for every extension point: lint rules, probes, symptoms, mutation
operators and fault handlers.

A :class:`Registry` maps a key (a rule's code, a symptom's name, a handler's fault type) to the
registered class (or instance). Entries arrive in one of two ways, both through the same object:

- ``@REG.register`` on a class (the decorator form), and
- ``REG.discover(package)``: import every public module of a package so that its decorators run
  (pkgutil discovery, as Fixit discovers its rules), optionally also registering the subclasses
  of a base class that a module defines (``collect=Base``), which is how lint rules register
  without a decorator.

A key registered twice by different objects is a programming error and raises. Standard library
only: importing a registry costs nothing.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named extension points keyed by ``key(obj)``.

    ``key`` reads an entry's key (default: its ``name`` attribute); ``check`` validates an entry
    before it is accepted and raises ``ValueError`` with the reason; ``instantiate`` registers
    ``cls()`` instead of the class (operators are stateless instances)."""

    def __init__(self, what: str, key: Callable[[Any], str] = lambda o: o.name,
                 check: Callable[[Any], None] | None = None, instantiate: bool = False) -> None:
        self.what = what
        self._key = key
        self._check = check
        self._instantiate = instantiate
        self._items: dict[str, T] = {}
        self._discovered: set[str] = set()

    # ------------------------------------------------------------------ registering
    def register(self, cls):
        """Class decorator: register ``cls`` (or ``cls()`` for instantiating registries)."""
        entry = cls() if self._instantiate else cls
        self.add(entry)
        return cls

    def add(self, entry: T) -> T:
        if self._check is not None:
            self._check(entry)
        k = self._key(entry)
        if not k:
            raise ValueError(f"{self.what}: {entry!r} has no key")
        old = self._items.get(k)
        if old is not None and _identity(old) != _identity(entry):
            raise RuntimeError(f"duplicate {self.what} {k!r}: {_identity(old)} and {_identity(entry)}")
        self._items[k] = entry
        return entry

    def discover(self, package: str, collect: type | None = None) -> "Registry[T]":
        """Import every module of ``package`` whose name does not start with ``_`` (sorted, once);
        with ``collect``, also register each subclass of ``collect`` that a module defines."""
        if package in self._discovered:
            return self
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{package}.{info.name}")
            if collect is None:
                continue
            for _, obj in inspect.getmembers(mod, inspect.isclass):
                if issubclass(obj, collect) and obj is not collect and obj.__module__ == mod.__name__:
                    self.add(obj() if self._instantiate else obj)
        self._discovered.add(package)
        return self

    def __setitem__(self, key: str, entry: T) -> None:
        """Replace an entry outright (tests swap one in with ``monkeypatch.setitem``)."""
        if self._check is not None:
            self._check(entry)
        self._items[key] = entry

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    # ------------------------------------------------------------------ reading
    def __getitem__(self, key: str) -> T:
        return self._items[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def sorted(self) -> list[T]:
        """Entries in key order."""
        return [self._items[k] for k in sorted(self._items)]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self._items)} entries)"


def _identity(entry: Any) -> str:
    cls = entry if isinstance(entry, type) else type(entry)
    return f"{cls.__module__}.{cls.__qualname__}"
