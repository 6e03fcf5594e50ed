"""Traversal helpers for the loop IR: a rebuilding mutator and a generic pre-order walk.

Passes subclass `Mutator` and override `visit_<NodeClass>` for the nodes they rewrite; every
other node is rebuilt only if one of its children changed (so untouched subtrees stay shared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields, replace

from compiler.tir.nodes import Buffer, ForKind, PrimFunc, Var

_LEAVES = (Var, Buffer, ForKind, str, int, float, bool, type(None))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(node) -> tuple[str, ...]:
    """The dataclass field names of a node's class (looked up once per class: hot path)."""
    cls = type(node)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(node))
    return names


def _is_node(x) -> bool:
    """An expression or statement: Vars count (they are uses), Buffers and enums do not."""
    return isinstance(x, Var) or (not isinstance(x, _LEAVES) and hasattr(x, "__dataclass_fields__"))


def children(node) -> Iterator:
    """Direct sub-nodes (expressions, Vars included, and statements) of a node, in field order."""
    if isinstance(node, _LEAVES):
        return
    for name in _field_names(node):
        v = getattr(node, name)
        if isinstance(v, tuple):
            yield from (x for x in v if _is_node(x))
        elif _is_node(v):
            yield v


def walk(node) -> Iterator:
    """Pre-order iteration over a node and all its sub-nodes."""
    yield node
    for c in children(node):
        yield from walk(c)


class Mutator:
    """Rebuild a tree bottom-up; `visit_X(node)` hooks receive the node with children visited."""

    def visit(self, node):
        if isinstance(node, Var):
            hook = getattr(self, "visit_Var", None)
            return hook(node) if hook else node
        if isinstance(node, _LEAVES):
            return node
        node = self._rebuild(node)
        hook = getattr(self, f"visit_{type(node).__name__}", None)
        return hook(node) if hook else node

    def _rebuild(self, node):
        changes = {}
        for name in _field_names(node):
            if name == "var":  # a binding occurrence (For, LetStmt), not a use
                continue
            v = getattr(node, name)
            if isinstance(v, tuple):
                nv = tuple(self.visit(x) if hasattr(x, "__dataclass_fields__") else x for x in v)
                if any(a is not b for a, b in zip(nv, v, strict=True)):
                    changes[name] = nv
            elif hasattr(v, "__dataclass_fields__") and not isinstance(v, _LEAVES[1:]):
                nv = self.visit(v)
                if nv is not v:
                    changes[name] = nv
        return replace(node, **changes) if changes else node

    def run(self, func: PrimFunc) -> PrimFunc:
        body = self.visit(func.body)
        return func if body is func.body else replace(func, body=body)


def substitute(node, mapping: dict[Var, object]):
    """Replace Vars (by identity) with expressions throughout `node`."""

    class _Sub(Mutator):
        def visit_Var(self, v):  # noqa: N802 - hook naming follows node classes
            return mapping.get(v, v)

    return _Sub().visit(node)


def collect(node, pred: Callable[[object], bool]) -> list:
    return [n for n in walk(node) if pred(n)]
