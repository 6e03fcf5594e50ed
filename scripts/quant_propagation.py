"""How int8 error grows through a model: for every quantized layer, the relative L2 error of its
input and of its output (dequantized from their int8 forms) against the float graph, on the
evaluation photos; and, with --keep, keep-float ablations by class of layer.

    .venv/bin/python scripts/quant_propagation.py ppocr_cls [--keep dw se pw fc]

Classes: `dw` depthwise convs (pools rewritten as convs included), `se` convs on a 1x1 spatial
input, `pw` other convs, `fc` dense layers. `--keep dw` compiles with the depthwise convs in
float; `--keep only:dw` with everything but them in float. (The numbers behind the PP-OCR
diagnosis in docs/quantization.md.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quant import load  # noqa: E402

from compiler.graph.executor import run_graph  # noqa: E402
from compiler.graph.pipeline import compile_for_accel  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.accuracy import rel_l2  # noqa: E402
from runtime.sample_images import sample_set  # noqa: E402
from tests.graph.real_models import cached_models, comparison_points  # noqa: E402


def layer_class(node, graph) -> str:
    out = graph.types[node.outputs[0]].shape
    if node.op != "Conv":
        return "fc"
    if int(np.prod(graph.types[node.inputs[0]].shape[2:])) == 1 and len(out) == 4:
        return "se"
    return "dw" if int(node.attr("group", 1)) > 1 else "pw"


def propagation(res, evals) -> list[tuple[str, float, float]]:
    src, qg = res.calibration.source_graph, res.calibration.quant_graph
    int8_of = {v: (q, e) for q, (v, e) in res.plan.int8_forms.items()}
    f_envs = [run_graph(src, f, keep_all=True) for f in evals]
    q_envs = [run_graph(qg, f, keep_all=True) for f in evals]

    def value(env, v):
        if v in int8_of and int8_of[v][0] in env:
            q, e = int8_of[v]
            return env[q].astype(np.float64) * 2.0**e
        return env.get(v)

    def err(v):
        got = [value(env, v) for env in q_envs]
        if any(g is None for g in got):
            return float("nan")
        return rel_l2(got, [env[v] for env in f_envs])

    nodes = {n.name: n for n in src.nodes}
    return [(la.anchor, err(nodes[la.anchor].inputs[0]), err(la.output)) for la in res.plan.layers]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a cached model's name (e.g. ppocr_cls)")
    parser.add_argument("--keep", nargs="*", default=[], help="ablations: CLASS or only:CLASS")
    parser.add_argument("--method", default="auto")
    args = parser.parse_args(argv)
    path = next((m for m in cached_models() if m.stem == args.model), None)
    if path is None:
        print(f"no cached model {args.model!r}", file=sys.stderr)
        return 1
    _, graph, name = load(path)
    inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
    calib, evals = sample_set("calibration", inputs, name), sample_set("evaluation", inputs, name)
    cfg = load_config("default")
    res = compile_for_accel(graph, cfg, calib, method=args.method)
    points = comparison_points(res.float_graph)

    def final_errors(r) -> str:
        got = [run_graph(r.graph, f, keep_all=True) for f in evals]
        want = [run_graph(r.float_graph, f, keep_all=True) for f in evals]
        return ", ".join(f"{p} {100 * rel_l2([g[p] for g in got], [w[p] for w in want]):.2f}%"
                         for p in points if p in got[0])  # fmt: skip

    print(f"{name}: {final_errors(res)}")
    for anchor, e_in, e_out in propagation(res, evals):
        print(f"  {anchor:28s} in {100 * e_in:6.2f}%  out {100 * e_out:6.2f}%")
    src = res.calibration.source_graph
    classes = {n.name: layer_class(n, src) for n in src.nodes if n.op in ("Conv", "Gemm", "MatMul")}
    for spec in args.keep:
        only = spec.startswith("only:")
        wanted = set(spec.removeprefix("only:").split("+"))
        keep = [k for k, c in classes.items() if (c in wanted) != only]
        r = compile_for_accel(graph, cfg, calib, method=args.method, keep_float=keep)
        print(f"keep float {spec} ({len(r.plan.layers)} int8 layers): {final_errors(r)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
