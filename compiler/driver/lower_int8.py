"""Accelerator groups of the int8 data-movement ops -> operators of `compiler/vta`.

- `vtac.maxpool` (packed) alone -> `compiler.vta.maxpool.maxpool_op` (its own generator);
- `vtac.upsample` (packed, ×2) alone -> `compiler.vta.upsample.upsample2x_op`;
- a lone `vtac.requantize` of an accelerator value (a concat's alignment shift) ->
  `elementwise_op` with one operand and the requantize's steps;
- a standalone `vtac.add` (two packed int8 operands, aligned by left shifts) and the
  `vtac.requantize` after it -> `compiler.vta.elementwise.elementwise_op` with the requantize's
  shift/round/clip steps as its epilogue (the same steps a conv epilogue uses);
- `vtac.hardswish` / `vtac.mul` and the `vtac.requantize` after them (configs with the ALU's
  MUL) -> `compiler.vta.mul_ops.hardswish_op` / `mul_op`, the requantize as their epilogue.
"""

from __future__ import annotations

from compiler.driver.lower_group import GroupKernel, LoweringError, _check_imms, _requantize_steps
from compiler.driver.mul_epilogue import drop_idle_clips_after_hardswish, hardswish_step
from compiler.graph.ir import Graph, Node
from hw_sim.config import HwConfig


def _plain_shape(packed: tuple[int, ...], what: str) -> tuple[int, ...]:
    if len(packed) == 6:
        nb, cb, h, w, bt, bc = packed
        return (nb * bt, cb * bc, h, w)
    if len(packed) == 4:
        nb, cb, bt, bc = packed
        return (nb * bt, cb * bc)
    raise LoweringError(f"{what}: {packed} is not a blocked NCHW or NC shape")


def lower_int8_group(graph: Graph, nodes: list[Node], cfg: HwConfig) -> GroupKernel:
    anchor = nodes[0]
    if anchor.op == "vtac.maxpool":
        from compiler.vta.maxpool import maxpool_op

        if len(nodes) != 1 or not anchor.attr("packed", 0):
            raise LoweringError(f"{anchor.name!r}: a max pool group is one packed vtac.maxpool")
        shape = _plain_shape(graph.types[anchor.inputs[0]].shape, anchor.name)
        try:
            op = maxpool_op(cfg, shape, tuple(anchor.attr("kernel_shape")),
                            tuple(anchor.attr("strides")), tuple(anchor.attr("pads")),
                            name=anchor.name)  # fmt: skip
        except ValueError as e:
            raise LoweringError(str(e)) from None
        values = {"data": anchor.inputs[0], "out": anchor.outputs[0]}
        return GroupKernel(op, values, {}, anchor.outputs[0])
    if anchor.op == "vtac.upsample":
        from compiler.vta.upsample import upsample2x_op

        if len(nodes) != 1 or not anchor.attr("packed", 0) or int(anchor.attr("factor")) != 2:
            raise LoweringError(f"{anchor.name!r}: an upsample group is one packed ×2 upsample")
        shape = _plain_shape(graph.types[anchor.inputs[0]].shape, anchor.name)
        op = upsample2x_op(cfg, shape, name=anchor.name)
        values = {"data": anchor.inputs[0], "out": anchor.outputs[0]}
        return GroupKernel(op, values, {}, anchor.outputs[0])
    from compiler.vta.elementwise import elementwise_op

    if anchor.op == "vtac.requantize":  # alone (a concat's alignment shift): one operand
        x = anchor.inputs[0]
        t = graph.types[x]
        if t.dtype not in ("int8", "int32") or len(nodes) != 1:
            raise LoweringError(f"{anchor.name!r}: a lone requantize of {t.dtype}")
        steps = _requantize_steps(anchor)
        _check_imms(steps, f"group of {anchor.name!r}")
        shape = _plain_shape(t.shape, anchor.name)
        op = elementwise_op(cfg, shape, t.dtype, None, epilogue=steps, name=anchor.name)
        return GroupKernel(op, {"a": x, op.output.name: anchor.outputs[0]}, {}, anchor.outputs[0])
    if anchor.op in ("vtac.hardswish", "vtac.mul"):
        return _lower_mul_group(graph, nodes, cfg)
    a, b = anchor.inputs
    types = [graph.types[v] for v in (a, b)]
    if any(t.dtype != "int8" for t in types) or types[0].shape != types[1].shape:
        raise LoweringError(f"{anchor.name!r}: a standalone add takes two int8 same-shape operands")
    steps, chain = _requantize_chain(graph, nodes)
    sa, sb = int(anchor.attr("shift_a", 0)), int(anchor.attr("shift_b", 0))
    shape = _plain_shape(types[0].shape, anchor.name)
    op = elementwise_op(cfg, shape, "int8", "int8", sa, sb, epilogue=steps, name=anchor.name)
    return GroupKernel(op, {"a": a, "b": b, op.output.name: chain}, {}, chain)


def _requantize_chain(graph: Graph, nodes: list[Node]) -> tuple[list[tuple], str]:
    """(epilogue steps, group output) of the `vtac.requantize` nodes after the anchor."""
    anchor = nodes[0]
    steps: list[tuple] = []
    chain = anchor.outputs[0]
    for node in nodes[1:]:
        if node.op != "vtac.requantize" or node.inputs[0] != chain or len(node.inputs) > 1:
            raise LoweringError(f"{node.name!r}: {node.op} has no element-wise epilogue")
        steps += _requantize_steps(node)
        chain = node.outputs[0]
    if graph.types[chain].dtype != "int8":
        raise LoweringError(f"group of {anchor.name!r} ends in {graph.types[chain].dtype}; "
                            "the accelerator stores int8 (a requantize must end it)")  # fmt: skip
    _check_imms(steps, f"group of {anchor.name!r}")
    return steps, chain


def _lower_mul_group(graph: Graph, nodes: list[Node], cfg: HwConfig) -> GroupKernel:
    """`vtac.hardswish` / `vtac.mul` + requantize: the ALU's MUL, so only with `cfg.ALU_MUL`."""
    from compiler.vta.mul_ops import hardswish_op, mul_op

    anchor = nodes[0]
    if not cfg.ALU_MUL:
        raise LoweringError(f"{anchor.name!r}: {anchor.op} needs the ALU's MUL (config ALU_MUL)")
    steps, chain = _requantize_chain(graph, nodes)
    a = anchor.inputs[0]
    shape = _plain_shape(graph.types[a].shape, anchor.name)
    try:
        if anchor.op == "vtac.hardswish":
            hs, *steps = drop_idle_clips_after_hardswish([hardswish_step(anchor), *steps])
            op = hardswish_op(cfg, shape, *hs[1:], steps, name=anchor.name)
            values = {"a": a, op.output.name: chain}
        else:
            b = anchor.inputs[1]
            b_shape = _plain_shape(graph.types[b].shape, anchor.name)
            op = mul_op(cfg, shape, b_shape, steps, name=anchor.name)
            values = {"a": a, "b": b, op.output.name: chain}
    except ValueError as e:
        raise LoweringError(str(e)) from None
    for v in anchor.inputs:
        if graph.types[v].dtype != "int8":
            raise LoweringError(
                f"{anchor.name!r}: operand {v!r} is {graph.types[v].dtype}, not int8"
            )
    return GroupKernel(op, values, {}, chain)
