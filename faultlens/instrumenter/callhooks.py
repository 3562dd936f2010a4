"""Module hooks kept outside the modules.

The runtime patches ``torch.nn.Module.__call__`` once (``reset()`` restores it); the patched
call looks the module's id up in a table of hooks that this module manages. Nothing is stored on
the user's modules, so pickling, ``copy.deepcopy``, ``state_dict``, ``repr``, ``named_modules``,
``torch.jit.script`` and module equality see the model exactly as the program built it.
"""
from __future__ import annotations

from typing import Any, Callable

# set on the patched ``nn.Module.__call__``; a class whose ``__call__`` lacks it bypasses the table
CALL_MARK = "_faultlens_call"


class CallHook:
    """A removable handle (like torch's ``RemovableHandle``) for a hook that the runtime keeps
    in its own table, keyed by the module's id, instead of on the module.

    Hooks registered with ``register_forward_hook`` live in the module's ``_forward_hooks``
    dict: ``torch.save(model)`` pickles them (a file that plain ``torch.load`` cannot read
    without faultlens), ``copy.deepcopy`` copies them onto the copy, and ``torch.jit.script``
    tries to compile them. Kept here, run by one patch of ``nn.Module.__call__`` (removed by
    ``reset()``), they leave the module's state exactly as the program made it."""

    __slots__ = ("_table", "_key", "_fn", "_post")

    def __init__(self, table: dict, key: int, fn: Callable[..., Any], post: bool) -> None:
        self._table, self._key, self._fn, self._post = table, key, fn, post

    def remove(self) -> None:
        entry = self._table.get(self._key)
        if entry is None:
            return
        hooks = entry[1 if self._post else 0]
        if self._fn in hooks:
            hooks.remove(self._fn)
        if not entry[0] and not entry[1]:
            del self._table[self._key]


def hook_call(table: dict, module: Any, *, pre: Callable[..., Any] | None = None,
              post: Callable[..., Any] | None = None) -> Any:
    """Run ``pre(module, args, kwargs)`` before and ``post(module, args, output)`` after each
    call of ``module``, without touching the module; returns a handle with ``remove()``.
    A module class with a ``__call__`` of its own (that the patch does not reach) gets a
    torch hook instead, as before."""
    fn = pre if pre is not None else post
    if fn is None or (pre is not None and post is not None):
        raise ValueError("hook_call takes exactly one of pre= and post=")
    if not getattr(type(module).__call__, CALL_MARK, False):
        if pre is not None:
            return module.register_forward_pre_hook(pre, with_kwargs=True)
        return module.register_forward_hook(post)
    entry = table.setdefault(id(module), ([], []))
    entry[1 if post is not None else 0].append(fn)
    return CallHook(table, id(module), fn, post is not None)
