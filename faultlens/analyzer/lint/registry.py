"""Rule discovery: every module under :mod:`faultlens.analyzer.lint.rules` is imported and
each :class:`~faultlens.analyzer.lint.base.LintRule` subclass defined there with an
``FLnnn`` code is registered. Adding a rule = adding a module; nothing else to edit."""
from __future__ import annotations

import re
from functools import lru_cache

from faultlens.analyzer.lint.base import LintRule
from faultlens.errors import UsageError
from faultlens.registry import Registry

_CODE = re.compile(r"^FL\d{3}$")


def _check_rule(cls: type[LintRule]) -> None:
    if not _CODE.match(cls.code or ""):
        raise RuntimeError(f"rule {cls.__name__} has a malformed code {cls.code!r}")


RULES: Registry[type[LintRule]] = Registry("lint rule", key=lambda cls: cls.code, check=_check_rule)


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[LintRule], ...]:
    """All registered rule classes, sorted by code. Duplicate codes are a programming error."""
    return tuple(RULES.discover("faultlens.analyzer.lint.rules", collect=LintRule).sorted())


def rule_codes() -> list[str]:
    return [r.code for r in all_rules()]


def parse_codes(spec: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"FL001,FL2"`` -> ``["FL001", "FL2"]``. Prefixes are allowed (``FL00`` = FL001..FL009)."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else [s for part in spec for s in str(part).split(",")]
    out = [s.strip().upper() for s in items if s.strip()]
    return out


def resolve_selection(select, ignore, known: list[str] | None = None) -> set[str]:
    """The set of enabled codes for ``--select`` / ``--ignore`` (codes or code prefixes).
    Unknown codes are a usage error."""
    known = list(known if known is not None else rule_codes())
    sel, ign = parse_codes(select), parse_codes(ignore)

    def expand(items: list[str], opt: str) -> set[str]:
        got: set[str] = set()
        for item in items:
            if item == "ALL":
                got.update(known)
                continue
            match = {c for c in known if c.startswith(item)}
            if not match:
                raise UsageError(f"{opt}: unknown rule code {item!r} (known: {', '.join(known)})")
            got |= match
        return got

    enabled = expand(sel, "--select") if sel else set(known)
    if ign:
        enabled -= expand(ign, "--ignore")
    return enabled
