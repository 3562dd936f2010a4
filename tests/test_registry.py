"""The one registry mechanism behind lint rules, probes, symptoms, operators and fault handlers."""
import pytest

from faultlens.registry import Registry


class Base:
    name = ""


def test_register_decorator_and_reading():
    reg: Registry = Registry("thing")

    @reg.register
    class A(Base):
        name = "a"

    assert reg["a"] is A and "a" in reg and list(reg) == ["a"] and len(reg) == 1
    assert reg.get("b") is None and reg.sorted() == [A]


def test_instantiating_registry_holds_instances():
    reg: Registry = Registry("op", instantiate=True)

    @reg.register
    class Op(Base):
        name = "op"

    assert isinstance(reg["op"], Op)


def test_duplicate_key_from_another_class_raises_and_same_class_is_idempotent():
    reg: Registry = Registry("thing")

    class A(Base):
        name = "x"

    class B(Base):
        name = "x"

    reg.add(A)
    reg.add(A)
    with pytest.raises(RuntimeError, match="duplicate thing 'x'"):
        reg.add(B)


def test_check_rejects_bad_entries_and_missing_keys():
    def check(cls):
        if cls.name.startswith("_"):
            raise ValueError("private")

    reg: Registry = Registry("thing", check=check)

    class P(Base):
        name = "_p"

    class Empty(Base):
        pass

    with pytest.raises(ValueError, match="private"):
        reg.add(P)
    with pytest.raises(ValueError, match="no key"):
        reg.add(Empty)


def test_discover_imports_public_modules_and_collects_subclasses():
    from faultlens.analyzer.lint.base import LintRule

    reg: Registry = Registry("rule", key=lambda c: c.code)
    reg.discover("faultlens.analyzer.lint.rules", collect=LintRule)
    codes = list(reg)
    assert codes and all(c.startswith("FL") for c in codes)
    n = len(reg)
    reg.discover("faultlens.analyzer.lint.rules", collect=LintRule)  # once per package
    assert len(reg) == n


def test_every_shipped_registry_is_a_registry():
    from faultlens.analyzer.lint.registry import RULES, all_rules
    from faultlens.corpus.operators import REGISTRY as OPERATORS
    from faultlens.models.symptoms import REGISTRY as SYMPTOMS

    all_rules()
    for reg in (RULES, OPERATORS, SYMPTOMS):
        assert isinstance(reg, Registry) and len(reg) > 0
