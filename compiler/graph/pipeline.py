"""The graph-level pipeline: one ordered list of passes, each with the reason it sits there.

`optimize(graph)` runs the target-independent passes; `compile_for_accel(graph, cfg, samples)`
adds quantization, partitioning, layout packing and fusion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from compiler.graph.accel_support import float_anchor_support
from compiler.graph.ir import Graph
from compiler.graph.passes import GraphPass, run_passes
from compiler.graph.passes.avgpool_as_conv import avgpool_as_conv
from compiler.graph.passes.block_views import block_views
from compiler.graph.passes.convtranspose_as_conv import convtranspose_as_conv
from compiler.graph.passes.cse import eliminate_common_subexpressions
from compiler.graph.passes.dead_code import eliminate_dead_code
from compiler.graph.passes.expand_groups import expand_groups
from compiler.graph.passes.fold_affine_into_conv import fold_affine_into_conv
from compiler.graph.passes.fold_batchnorm import fold_batchnorm
from compiler.graph.passes.fold_channel_shuffle import fold_channel_shuffle
from compiler.graph.passes.fold_constants import fold_constants
from compiler.graph.passes.fold_hardsigmoid import fold_hardsigmoid
from compiler.graph.passes.fold_pad import fold_pad_into_conv
from compiler.graph.passes.fuse_ops import fuse_ops
from compiler.graph.passes.hardswish_pattern import fuse_hardswish_pattern
from compiler.graph.passes.int8_mul import int8_mul
from compiler.graph.passes.pack_layout import pack_layout
from compiler.graph.passes.partition import partition
from compiler.graph.passes.prelu_as_conv import prelu_as_conv
from compiler.graph.passes.relu_before_concat import relu_before_concat
from compiler.graph.passes.simplify_shapes import simplify_shapes
from compiler.graph.passes.stem_im2col import stem_im2col
from compiler.graph.quant.choose import CalibrationInfo, quantize_calibrated
from compiler.graph.quant.compare import float_values, output_error
from compiler.graph.quant.equalize import equalize_depthwise_inputs
from compiler.graph.quant.quantize import QuantPlan
from compiler.graph.quant.squeeze_excite import squeeze_excite_convs
from hw_sim.config import HwConfig

OPTIMIZE: list[GraphPass] = [
    GraphPass(
        "fold_constants",
        fold_constants,
        "shape computations and generated weights become constants",
    ),
    GraphPass(
        "simplify_shapes", simplify_shapes, "reshape/flatten/squeeze chains become one reshape"
    ),
    GraphPass(
        "fold_batchnorm", fold_batchnorm, "BN disappears into conv/gemm weights before quantization"
    ),
    GraphPass(
        "fold_pad_into_conv",
        fold_pad_into_conv,
        "a zero Pad before a conv becomes its padding (the DMA pads for free)",
    ),
    GraphPass("cse", eliminate_common_subexpressions, "duplicate constants and shape ops merge"),
    GraphPass("dce", eliminate_dead_code, "orphans of the passes above go away"),
]


def accel_rewrites(cfg: HwConfig) -> list[GraphPass]:
    """Float rewrites that let quantization put more of the model on the accelerator."""
    return [
        GraphPass(
            "fold_channel_shuffle",
            lambda g: fold_channel_shuffle(g, cfg),
            "a channel shuffle becomes a permutation of its producing conv's output rows",
        ),
        GraphPass(
            "expand_groups",
            lambda g: expand_groups(g, cfg),
            "grouped convs with partial blocks per group run as block-diagonal GEMMs",
        ),
        GraphPass(
            "relu_before_concat",
            relu_before_concat,
            "a Relu after a Concat folds into the convs that feed it; the concat can be a view",
        ),
        GraphPass(
            "convtranspose_as_conv",
            convtranspose_as_conv,
            "kernel == stride ConvTranspose = a 1x1 conv (s*s phases) + an exact interleave",
        ),
        GraphPass(
            "avgpool_as_conv",
            lambda g: avgpool_as_conv(g, cfg),
            "average pools run as depthwise convs with constant weights on the accelerator",
        ),
        GraphPass(
            "fold_hardsigmoid",
            fold_hardsigmoid,
            "conv + HardSigmoid = conv with scaled weights + Clip (a requantize clamp)",
        ),
        GraphPass(
            "prelu_as_conv",
            prelu_as_conv,
            "LeakyRelu / PRelu = max(v, slope * v): a 1x1 depthwise conv and a max",
        ),
    ] + (
        [
            GraphPass(
                "fold_affine_into_conv",
                fold_affine_into_conv,
                "a per-channel Mul/Add after a conv folds into it (its HardSwish can follow)",
            ),
            GraphPass(
                "hardswish_pattern",
                fuse_hardswish_pattern,
                "x * Clip(x + 3, 0, 6) / 6 is one HardSwish, one integer formula with MUL",
            ),
        ]
        if cfg.ALU_MUL
        else []
    )


def optimize(graph: Graph, verify_each: bool = False) -> Graph:
    return run_passes(graph, OPTIMIZE, verify_each)


@dataclass
class AccelCompileResult:
    float_graph: Graph  # after `optimize`
    graph: Graph  # quantized, partitioned, packed, fused
    plan: QuantPlan
    calibration: CalibrationInfo | None = None  # methods chosen, bias corrections


# With at least this many calibration samples, automatic choices are judged on held-out ones.
HELD_OUT_MIN_SAMPLES = 4


def requant_mode(cfg: HwConfig, requant: str | None) -> str:
    """The requantization scheme for `cfg`: "shift", "mul" (only where the config's ALU has
    MUL) or "auto" (both, the one closer to the float outputs kept; the default with MUL)."""
    if requant is None:
        return "auto" if cfg.ALU_MUL else "shift"
    if requant not in ("mul", "shift", "auto"):
        raise ValueError(f"requant {requant!r} is not 'mul', 'shift' or 'auto'")
    if requant == "mul" and not cfg.ALU_MUL:
        raise ValueError(
            "requant='mul' needs the ALU's MUL, which this config does not have (ALU_MUL: "
            "false; the built-in config 'mul' has it)"
        )
    return "shift" if requant == "auto" and not cfg.ALU_MUL else requant


def compile_for_accel(
    graph: Graph,
    cfg: HwConfig,
    samples: Iterable[Mapping[str, np.ndarray]],
    method: str = "percentile",
    percentile: float = 99.99,
    weight_method: str = "mse",
    accel_only: bool = True,
    keep_first_float: bool = False,
    keep_last_float: bool = False,
    verify_each: bool = False,
    per_channel: bool = True,
    keep_float: Sequence[str] = (),
    bias_correction: bool | str = True,
    equalize: bool | str = "auto",
    float_squeeze_excite: bool = True,
    requant: str | None = None,
    **quant_options,
) -> AccelCompileResult:
    """optimize -> calibrate + quantize -> partition -> pack layout -> fuse.

    Defaults: percentile calibration of activations, least-squared-error weight exponents (one
    per output channel), weight-rounding bias correction (docs/quantization.md says why not
    `hist_mse`, which measured lower error on ResNet-18 and PP-OCR-det).
    With `accel_only`, conv/dense layers the accelerator cannot run (dilated, say) stay
    float: they run on the CPU anyway, and int8 would only add error. `per_channel=False`: one
    weight exponent per tensor. `keep_float` names conv/dense nodes to keep in float;
    `method="auto"` chooses the calibration method per value and `bias_correction` folds weight
    rounding's mean shift into the biases (quant/choose.py); `equalize` ("auto", the
    default: quantized both ways, the one closer to the float outputs on the samples kept;
    True alone lowered PP-OCR-det's error 69.3 -> 64.9 % but raised PP-OCR-cls's 31.1 ->
    41.0 %) scales each depthwise conv's input channels by powers of two measured on the
    samples, undone in its filter (quant/equalize.py); `float_squeeze_excite` keeps the 1x1
    convs of squeeze-excite gates in float on the CPU (quant/squeeze_excite.py: their MACs are
    tiny, their int8 error is not); `requant` ("mul": free per-channel weight scales,
    requantized by the ALU's MUL; "shift": power-of-two scales and shifts only; "auto": both,
    the one whose outputs are closer to the float model's on the samples kept — free scales
    lowered most models' error but raised PP-OCR-cls's and DenseNet's, docs/quantization.md;
    None: "auto" when `cfg.ALU_MUL`, else "shift"); `quant_options` pass through to
    `quantize_int8`. What "auto" chose is in `calibration.equalize` / `calibration.requant`.
    """
    requant = requant_mode(cfg, requant)
    if weight_method not in ("max", "mse"):
        raise ValueError(f"weight_method {weight_method!r} is not 'max' or 'mse'")
    float_graph = optimize(graph, verify_each)
    # Sub-pixel ConvTransposes become 1x1 convs + an interleave, average pools become
    # depthwise convs with 1/N weights, HardSigmoid folds into its conv,
    # LeakyRelu / PRelu become a 1x1 depthwise conv + max (int8 on the accelerator); the float
    # model keeps its original ops (same value names, so ranges and references line up).
    to_quantize = run_passes(float_graph, accel_rewrites(cfg), verify_each)
    samples = list(samples)

    def quantize(src: Graph, requant: str, calib: list):
        se = squeeze_excite_convs(src) if float_squeeze_excite else {}

        def not_for_accel(node, g):
            if node.name in se:
                return (f"squeeze-excite gate conv ({se[node.name]} MACs): kept float on the "
                        "CPU by default (float_squeeze_excite)")  # fmt: skip
            why = float_anchor_support(node, g, cfg) if accel_only else None
            return f"the accelerator cannot run it ({why}); stays float on the CPU" if why else None

        return quantize_calibrated(
            src,
            calib,
            method,
            percentile,
            weight_mse=weight_method == "mse",
            keep_first_float=keep_first_float,
            keep_last_float=keep_last_float,
            keep_float=keep_float,
            bias_correction=bias_correction,
            skip=not_for_accel,
            per_channel=per_channel,
            requant=requant,
            **quant_options,
        )

    if equalize not in (False, True, "auto"):
        raise ValueError(f"equalize {equalize!r} is not True, False or 'auto'")
    # Depthwise input equalization is data-dependent, so not a GraphPass. An "auto" choice
    # quantizes the model each way and keeps the one whose outputs are closer to the float
    # model's on the calibration samples (each helps some models and hurts others:
    # docs/quantization.md).
    equalized, done = (
        equalize_depthwise_inputs(to_quantize, samples) if equalize else (to_quantize, {})
    )
    int8_mul_pass = GraphPass(
        "int8_mul",
        lambda g: int8_mul(g, cfg),
        "with the ALU's MUL, HardSwish and Mul of int8 values become integer ops",
    )
    requants = ("mul", "shift") if requant == "auto" else (requant,)
    eq_choices = (False, True) if equalize == "auto" and done else (bool(done),)
    options = [(rq, eq) for rq in requants for eq in eq_choices]

    def candidate(o, calib):
        # with the ALU's MUL, HardSwish and Mul of int8 values become integer ops: part of
        # what the candidates are compared on
        qg, plan_o, info_o = quantize(equalized if o[1] else to_quantize, o[0], calib)
        return run_passes(qg, [int8_mul_pass], verify_each), plan_o, info_o

    # Candidates are compared on samples their calibration did not see when there are enough
    # (calibrated on the even ones, judged on the odd ones; the chosen one is then calibrated
    # on all): judged on its own calibration samples, a scheme that fits them closely (free
    # scales) looks better than it is (PP-OCR-cls: 16 vs 22 % there, 67 vs 31 % on new photos).
    held_out = len(options) > 1 and len(samples) >= HELD_OUT_MIN_SAMPLES
    fit, check = (samples[0::2], samples[1::2]) if held_out else (samples, samples)
    results = {o: candidate(o, fit) for o in options}
    errors: dict = {}
    if len(options) > 1:
        want = float_values(float_graph, check)  # one float run for all candidates
        errors = {o: output_error(float_graph, results[o][0], check, want) for o in options}
    best = min(options, key=lambda o: errors.get(o, 0.0))
    qgraph, plan, info = candidate(best, samples) if held_out else results[best]
    info.equalize = {"equalized": best[1], "layers": done}
    if len(eq_choices) > 1:
        info.equalize.update({"error_plain": errors[(best[0], False)],
                              "error_equalized": errors[(best[0], True)]})  # fmt: skip
    info.requant = {"chosen": best[0]}
    if len(requants) > 1:
        info.requant["errors"] = {rq: min(errors[(rq, eq)] for eq in eq_choices)
                                  for rq in requants}  # fmt: skip
    passes = [
        GraphPass(
            "stem_im2col",
            lambda g: stem_im2col(g, cfg),
            "a few-channel stem conv becomes a CPU gather + a 1x1 conv with full GEMM blocks",
        ),
        GraphPass(
            "partition", lambda g: partition(g, cfg), "only int8 ops can go to the accelerator"
        ),
        GraphPass(
            "pack_layout", lambda g: pack_layout(g, cfg), "accelerator regions use blocked layouts"
        ),
        GraphPass(
            "block_views",
            lambda g: block_views(g, cfg),
            "channel concat/split of packed values become views (zero-copy when linked)",
        ),
        GraphPass("dce", eliminate_dead_code, "drop dequantize/pack nodes nobody reads"),
        GraphPass("fuse_ops", fuse_ops, "one kernel per group, never across targets"),
    ]
    final = run_passes(qgraph, passes, verify_each)
    return AccelCompileResult(float_graph, final, plan, info)
