"""Zero-copy channel concat / split in the arena: the operands of `vtac.concat` / `vtac.split`
(`compiler/graph/passes/block_views.py`) become slices of one buffer.

    aliases = view_aliases(launches, types, fixed)     # value -> (root value, byte offset)
    plan = plan_arena_with_views(sizes, lifetimes, align, aliases)

A concat's inputs lie back to back in its output; a split's outputs back to back in its input
(whole channel blocks of one batch block are contiguous in the blocked layout). The constraints
are joined with a union-find that keeps each value's byte offset from its root, so chains
(a split whose parts feed a concat, SPPF's concat of pooled maps) share one buffer. A constraint
that contradicts earlier ones (the same tensor at two places), that would put two tensors that
launches write on the same bytes, or that involves a graph input or output (their bytes are the
caller's), is dropped: that launch then copies on the CPU. Each
buffer is planned as one arena value, live from its members' first write to their last read.

`is_zero_copy(launch, tensors)` tells the executor that a view launch's operands already are
where the view puts them, so it moves no bytes.
"""

from __future__ import annotations

import numpy as np

from compiler.driver.link import ArenaPlan, plan_arena

VIEW_OPS = ("vtac.concat", "vtac.split")


def _parts(node) -> tuple[str, list[str]]:
    """(whole, [parts in channel order]) of a view node."""
    if node.op == "vtac.concat":
        return node.outputs[0], list(node.inputs)
    return node.inputs[0], list(node.outputs)


def view_nodes(launches) -> list:
    """The nodes of CPU launches that consist of one view node."""
    out = []
    for la in launches:
        nodes = getattr(la, "nodes", None)
        if la.device == "cpu" and nodes and len(nodes) == 1 and nodes[0].op in VIEW_OPS:
            out.append(nodes[0])
    return out


class _Offsets:
    """Union-find over values with offsets: value = root + offset (bytes)."""

    def __init__(self) -> None:
        self.parent: dict[str, tuple[str, int]] = {}

    def find(self, v: str) -> tuple[str, int]:
        off = 0
        while v in self.parent:
            v, d = self.parent[v][0], off + self.parent[v][1]
            off = d
        return v, off

    def join(self, part: str, whole: str, offset: int) -> bool:
        """part = whole + offset; False (nothing changed) if that contradicts what is known."""
        rp, op_ = self.find(part)
        rw, ow = self.find(whole)
        if rp == rw:
            return op_ == ow + offset
        self.parent[rp] = (rw, ow + offset - op_)
        return True


def view_aliases(launches, nbytes: dict[str, int], fixed: set[str]) -> dict[str, tuple[str, int]]:
    """value -> (root, byte offset, possibly negative) for every value in a view group; roots
    map to themselves with offset 0. `fixed` values (graph inputs and outputs) take no part."""
    uf = _Offsets()
    nodes = view_nodes(launches)
    # Values an accepted view computes (a concat's whole, a split's parts) hold bytes other
    # members wrote; every other member is written by a launch (a rejected view copies), and
    # those must not share bytes.
    by_view: set[str] = set()
    seen: set[str] = set()
    for node in nodes:
        whole, parts = _parts(node)
        if whole in fixed or any(p in fixed for p in parts):
            continue
        snapshot = dict(uf.parent)
        off, ok = 0, True
        for p in parts:
            ok = ok and uf.join(p, whole, off)
            off += nbytes[p]
        mine = set(node.outputs)
        seen.update([whole, *parts])
        if not ok or off != nbytes[whole] or _writers_overlap(uf, seen, by_view | mine, nbytes,
                                                               whole):  # fmt: skip
            uf.parent = snapshot  # contradicts an earlier view: this one copies
        else:
            by_view |= mine
    members = set(uf.parent) | {uf.find(v)[0] for v in uf.parent}
    return {v: uf.find(v) for v in members}


def _writers_overlap(uf: _Offsets, seen: set[str], by_view: set[str], nbytes, value: str) -> bool:
    """Whether two members of `value`'s group that real launches write share bytes (a concat of
    one part of a split with a tensor placed where the other part lives, say)."""
    root = uf.find(value)[0]
    spans = sorted((uf.find(v)[1], uf.find(v)[1] + nbytes[v]) for v in seen
                   if v not in by_view and uf.find(v)[0] == root)  # fmt: skip
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def plan_arena_with_views(
    sizes: dict[str, int],
    lifetimes: dict[str, tuple[int, int]],
    align: int,
    aliases: dict[str, tuple[str, int]],
) -> ArenaPlan:
    """`plan_arena` with each view group planned as one value covering all its members."""
    groups: dict[str, list[str]] = {}
    for v, (root, _) in aliases.items():
        groups.setdefault(root, []).append(v)
    g_sizes = {v: s for v, s in sizes.items() if v not in aliases}
    g_life = {v: lifetimes[v] for v in g_sizes}
    low: dict[str, int] = {}
    for root, members in groups.items():
        lo = min(aliases[m][1] for m in members)
        hi = max(aliases[m][1] + sizes[m] for m in members)
        key = f"view:{root}"
        low[root] = lo
        g_sizes[key] = hi - lo
        g_life[key] = (min(lifetimes[m][0] for m in members),
                       max(lifetimes[m][1] for m in members))  # fmt: skip
    plan = plan_arena(g_sizes, g_life, align)
    offsets = {v: o for v, o in plan.offsets.items() if not v.startswith("view:")}
    for v, (root, off) in aliases.items():
        offsets[v] = plan.offsets[f"view:{root}"] + off - low[root]
    total = sum(-(-max(s, 1) // align) * align for s in sizes.values())
    return ArenaPlan(offsets, plan.peak_bytes, total)


def is_zero_copy(launch, tensors) -> bool:
    """Whether a CPU launch is one view node whose parts already lie back to back in its whole
    (then running it would move no data)."""
    nodes = getattr(launch, "nodes", None)
    if not nodes or len(nodes) != 1 or nodes[0].op not in VIEW_OPS:
        return False
    whole, parts = _parts(nodes[0])
    off = tensors[whole].offset
    if off is None:
        return False
    for p in parts:
        t = tensors[p]
        if t.offset != off:
            return False
        off += int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize
    return True
