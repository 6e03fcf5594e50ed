"""int8_mul: HardSwish and Mul of int8 values become integer ops the ALU's MUL runs.

Runs on the quantized graph, before partitioning, only when the config has the ALU's MUL
(`HwConfig.ALU_MUL`; VTA's fsim implements it, its Chisel and HLS do not). Rules:

- `vtac.dequantize(q, ex) -> HardSwish [-> Mul(s) -> Add(t)]` (s, t scalar constants: the
  learnable affine PP-OCR-det puts after each HardSwish) -> `vtac.hardswish(q)` +
  `vtac.requantize` to ey (`compiler/graph/hardswish_int.py`): ey is the exponent of the
  `vtac.quantize` that reads the result (the next layer's input grid: the int8 result replaces
  dequantize -> HardSwish -> quantize with no new rounding point); without such a reader the
  HardSwish stays float.
- `Mul` of two dequantized int8 values of one shape -> `vtac.mul` + `vtac.requantize` by
  ey - ea - eb (the product of two int8 grids is exact in int32).
- `Mul` of an int8 tensor [N, C, H, W] and an int8 gate [N, C, 1, 1] (a squeeze-excite gate
  whose convs are quantized: `float_squeeze_excite=False`) -> `vtac.mul` broadcast over H, W.
  A float gate (the default rule of `quant/squeeze_excite.py`) keeps the Mul on the CPU:
  quantizing it at the 2^-7 its [0, 1] range allows took PP-OCR-cls's logit error from 31 % to
  41 % (a gate error up to 1/256 on every pixel of a channel); a 16-bit gate would not lose it
  but is not built.
Both need a `vtac.quantize` reader of the product (its calibrated output exponent).

`vtac.quantize` readers at the new exponent read the int8 result directly; any other reader
gets a `vtac.dequantize` of it.
"""

from __future__ import annotations

from compiler.graph.hardswish_int import hardswish_int
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.dead_code import eliminate_dead_code
from compiler.graph.passes.rewrite import substitute_uses
from compiler.graph.ref.vtac_ops import INT8_MAX, INT8_MIN
from hw_sim.config import HwConfig

MAX_LEFT_SHIFT = 15  # a requantize's left shift must fit one SHR immediate (lower_group)


class _Rewriter:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.names = NameGen(graph)
        self.types = dict(graph.types)
        self.consumers = graph.consumers()
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}
        self.dropped: set[str] = set()
        # float value -> (int8 value, exponent), from the dequantize nodes. Only power-of-two
        # grids: the integer formulas take integer exponents (a free scale, requant="mul",
        # keeps its HardSwish / Mul float on the CPU).
        self.int8_of = {
            n.outputs[0]: (n.inputs[0], int(n.attr("exp")))
            for n in graph.nodes
            if n.op == "vtac.dequantize"
            and graph.types[n.inputs[0]].dtype == "int8"
            and float(n.attr("exp")).is_integer()
        }

    def value(self, base: str, shape: tuple[int, ...], dtype: str) -> str:
        v = self.names(base)
        self.types[v] = TensorType(shape, dtype)
        return v

    def out_exponent(self, out: str) -> int | None:
        """The exponent of the `vtac.quantize` nodes that are all of `out`'s readers, else None:
        a float reader would get a rounded value where the float path gave it an exact one
        (measured on PP-OCR-det: 2.7 points of output error for its squeeze-excite pools)."""
        readers = self.consumers.get(out, [])
        exps = {float(n.attr("exp")) for n in readers if n.op == "vtac.quantize"}
        if len(exps) != 1 or len(readers) != sum(n.op == "vtac.quantize" for n in readers):
            return None
        e = exps.pop()
        return int(e) if e.is_integer() and out not in self.g.outputs else None

    def finish(self, node: Node, acc: str, shift: int, e_y: int) -> None:
        """requantize `acc` to e_y; quantize readers at e_y read it, the rest a dequantize."""
        out = node.outputs[0]
        shape = self.g.types[out].shape
        q = self.value(f"{out}_q", shape, "int8")
        self.nodes.append(Node(self.names(f"{node.name}_requantize"), "vtac.requantize", (acc,),
                               (q,), {"shift": shift, "lo": INT8_MIN, "hi": INT8_MAX}))  # fmt: skip
        rest = out in self.g.outputs
        for reader in self.consumers.get(out, []):
            direct = reader.op == "vtac.quantize" and float(reader.attr("exp")) == e_y
            if direct and reader.outputs[0] not in self.g.outputs:
                self.alias[reader.outputs[0]] = q
                self.dropped.add(reader.name)
            else:
                rest = True
        if rest:
            self.nodes.append(Node(self.names(f"{out}_dequantize"), "vtac.dequantize", (q,),
                                   (out,), {"exp": e_y}))  # fmt: skip
            self.int8_of[out] = (q, e_y)

    def scalar(self, value: str) -> float | None:
        c = self.g.constants.get(value)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None

    def affine_after(self, node: Node) -> tuple[Node, float, float, list[Node]]:
        """(last node, s, t, the affine nodes) of a `Mul(s)` / `Add(t)` chain of scalar
        constants after `node`, each value read once (none: `node`, 1, 0, [])."""
        last, s, t, chain = node, 1.0, 0.0, []
        while True:
            readers = self.consumers.get(last.outputs[0], [])
            if len(readers) != 1 or last.outputs[0] in self.g.outputs:
                return last, s, t, chain
            nxt = readers[0]
            if nxt.op not in ("Mul", "Add") or len(nxt.inputs) != 2:
                return last, s, t, chain
            other = nxt.inputs[1] if nxt.inputs[0] == last.outputs[0] else nxt.inputs[0]
            c = self.scalar(other)
            if c is None:
                return last, s, t, chain
            s, t = (s * c, t * c) if nxt.op == "Mul" else (s, t + c)
            last = nxt
            chain.append(nxt)

    def hardswish(self, node: Node) -> bool:
        form = self.int8_of.get(node.inputs[0])
        if form is None:
            return False
        q, e_x = form
        last, s, t, chain = self.affine_after(node)
        e_y = self.out_exponent(last.outputs[0])
        if e_y is None:
            # No calibrated grid reads the result (a per-channel equalization Mul, a squeeze-
            # excite pool): quantizing it here would add a rounding the float path does not
            # have, amplified by such a Mul (PP-OCR-cls: 31 % -> 56 % logit error). Stays float.
            return False
        try:
            hs = hardswish_int(e_x, e_y, s, t)
        except ValueError:
            return False  # stays float on the CPU
        acc = self.value(f"{last.outputs[0]}_acc", self.g.types[q].shape, "int32")
        self.nodes.append(Node(node.name, "vtac.hardswish", (q,), (acc,), hs.attrs()))
        self.dropped.update(n.name for n in chain)
        self.finish(last, acc, hs.shift, e_y)
        return True

    def mul(self, node: Node) -> bool:
        if len(node.inputs) != 2 or any(v in self.g.constants for v in node.inputs):
            return False
        out = node.outputs[0]
        e_y = self.out_exponent(out)
        if e_y is None:
            return False
        a, b = node.inputs
        ta, tb = self.g.types[a], self.g.types[b]
        if tb.shape == ta.shape and a not in self.int8_of:
            a, b, ta, tb = b, a, tb, ta
        fa, fb = self.int8_of.get(a), self.int8_of.get(b)
        if fa is None and fb is not None and tb.rank == 4 and tb.shape[2:] != (1, 1):
            a, b, ta, tb, fa, fb = b, a, tb, ta, fb, fa  # the full-size int8 operand first
        if fa is None or ta.rank not in (2, 4) or ta.shape != self.g.types[out].shape:
            return False
        gate = ta.rank == 4 and tb.shape == (*ta.shape[:2], 1, 1)
        if tb.shape != ta.shape and not gate:
            return False
        if fb is None:
            return False  # a float operand (a float squeeze-excite gate): stays on the CPU
        shift = e_y - fa[1] - fb[1]
        if shift < -MAX_LEFT_SHIFT:
            return False
        acc = self.value(f"{out}_acc", ta.shape, "int32")
        self.nodes.append(Node(node.name, "vtac.mul", (fa[0], fb[0]), (acc,)))
        self.finish(node, acc, shift, e_y)
        return True

    def run(self) -> Graph:
        for node in self.g.nodes:
            if node.name in self.dropped:
                continue
            done = (node.op == "HardSwish" and self.hardswish(node)) or (
                node.op == "Mul" and self.mul(node)
            )
            if not done:
                self.nodes.append(node)
        nodes = [n for n in substitute_uses(self.nodes, self.alias) if n.name not in self.dropped]
        return eliminate_dead_code(self.g.with_nodes(nodes, types=self.types))


def int8_mul(graph: Graph, cfg: HwConfig) -> Graph:
    """The rewrite above when `cfg.ALU_MUL`; the graph unchanged otherwise."""
    if not cfg.ALU_MUL:
        return graph
    return _Rewriter(graph).run()
