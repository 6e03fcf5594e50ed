"""`vtac compile`, `vtac run`, `vtac profile`: the commands a user types, and their errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from PIL import Image

from runtime.cli import main
from tests.graph.models import resnet18

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    onnx.save(resnet18(seed=1, image=32, width=16, classes=10), d / "r18.onnx")
    rng = np.random.default_rng(0)
    np.save(d / "calib.npy", rng.standard_normal((3, 1, 3, 32, 32)).astype(np.float32))
    assert main(["compile", str(d / "r18.onnx"), "--calib", str(d / "calib.npy"), "--config",
                 "small", "-o", str(d / "r18.vtac")]) == 0  # fmt: skip
    return d


def test_compile_prints_a_summary(compiled, capsys):
    d = compiled
    assert main(["compile", str(d / "r18.onnx"), "--config", "small", "-o", str(d / "b.vtac")]) == 0
    cap = capsys.readouterr()
    assert "warning: no --calib given" in cap.err
    # 20 convs + the dense + the stem's max pool + the global pool (a depthwise conv)
    assert "23 accelerator and 8 CPU launches" in cap.out and "unpadded" in cap.out
    assert "boundaries: " in cap.out and "accelerator <-> CPU crossing(s)" in cap.out
    assert "activation arena" in cap.out and "peak vs" in cap.out and "artifact written" in cap.out


def test_run_profile_trace_plot_and_outputs(compiled, capsys):
    d = compiled
    img = (np.random.default_rng(1).uniform(0, 255, (40, 50, 3))).astype(np.uint8)
    Image.fromarray(img).save(d / "x.png")
    args = ["run", str(d / "r18.vtac"), "--input", str(d / "x.png"), "--profile", "--trace",
            str(d / "t.json"), "--plot", str(d / "p.png"), "-o", str(d / "out.npz")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "bit-exact with the int8 reference executor" in out
    assert "rel. L2 error vs onnxruntime" in out
    assert "Amdahl bound" in out and "boundaries" in out and "layer" in out
    trace = json.loads((d / "t.json").read_text())["traceEvents"]
    tracks = {e["args"]["name"] for e in trace if e.get("name") == "thread_name"}
    assert {"CPU", "accelerator", "accelerator: load", "accelerator: compute"} <= tracks
    assert sum(1 for e in trace if e.get("tid") == 4 and e.get("ph") == "X") > 20
    assert (d / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert np.load(d / "out.npz")["gemm_out239"].shape == (1, 10)


def test_run_json_batch_and_cpu_device(compiled, capsys):
    d = compiled
    assert main(["run", str(d / "r18.vtac"), "--json", "--batch", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["bit_exact"] is True and doc["batch"] == 3
    assert doc["pipelined_us"] <= 3 * doc["latency_us"]["sequential"] + 1e-6
    assert doc["accel_cycles"] > 0 and doc["layers"]
    assert main(["profile", str(d / "r18.vtac"), "--top", "3"]) == 0
    assert "more launches" in capsys.readouterr().out
    assert main(["run", str(d / "r18.vtac"), "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cpu_only_ms"] > 0


def test_user_errors_are_one_line(compiled, tmp_path, capsys):
    d = compiled
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 16, 16), np.float32))
    assert main(["run", str(d / "r18.vtac"), "--input", str(tmp_path / "bad.npy")]) == 1
    err = capsys.readouterr().err
    assert "shape (1, 3, 16, 16)" in err and "(1, 3, 32, 32)" in err and "Traceback" not in err
    assert main(["run", str(d / "r18.vtac"), "--config", "default"]) == 1
    assert "built for hardware config 'small', not 'default'" in capsys.readouterr().err
    assert main(["compile", str(d / "r18.onnx"), "--calib", str(tmp_path / "nope.npz")]) == 1
    assert "nope.npz: no such file" in capsys.readouterr().err
    (tmp_path / "x.npz").write_bytes(b"garbage")
    assert main(["compile", str(d / "r18.onnx"), "--calib", str(tmp_path / "x.npz")]) == 1
    assert "x.npz: not a readable NumPy file" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "none.vtac")]) == 1
    assert "no such artifact" in capsys.readouterr().err
    assert main(["compile", str(tmp_path / "none.onnx")]) == 1
    assert "none.onnx" in capsys.readouterr().err
    assert main(["compile", str(d / "r18.onnx"), "--requant", "mul"]) == 1
    assert "--requant mul: requant='mul' needs the ALU's MUL" in capsys.readouterr().err


def test_cpu_only_model_compiles_and_says_so(tmp_path, capsys):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Softmax", ["s"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              tmp_path / "c.onnx")  # fmt: skip
    assert main(["compile", str(tmp_path / "c.onnx"), "-o", str(tmp_path / "c.vtac")]) == 0
    assert "the accelerator runs nothing of this model" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "c.vtac")]) == 0
    out = capsys.readouterr().out
    assert "output y: float32[1, 4, 8, 8]" in out and "bit-exact" in out


def test_compile_with_tuning_records_uses_them(compiled, tmp_path, capsys):
    from compiler.driver.model_tasks import model_tasks
    from compiler.frontend.onnx_import import import_onnx
    from compiler.tune.measure import MeasureResult, Status
    from compiler.tune.records import Record, RecordLog
    from hw_sim.config import load_config
    from tests.model.helpers import samples

    d = compiled
    cfg = load_config("small")
    g = import_onnx(d / "r18.onnx")
    tasks = model_tasks(g, cfg, samples(g, 2))
    assert len(tasks) >= 10 and len({t.key for t in tasks}) == len(tasks)
    # A record for the first task: its knobs are the heuristic's with one thread fewer.
    from compiler.schedule.vta_heuristic import default_knobs

    op = tasks[0].build_op()
    knobs = default_knobs(op, cfg, vthreads=False)
    log = tmp_path / "t.jsonl"
    RecordLog(log).append([Record(tasks[0].key, knobs.to_dict(), MeasureResult(Status.OK, 1000.0))])
    out = tmp_path / "tuned.vtac"
    assert main(["compile", str(d / "r18.onnx"), "--config", "small", "--records", str(log),
                 "-o", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "tuned schedules: 1 of 23 accelerator operators had a record" in text
    from runtime.artifact import load_artifact

    launch = next(la for la in load_artifact(out).accel_launches() if la.name == tasks[0].name)
    assert launch.knobs == [knobs.to_dict()] != [default_knobs(op, cfg).to_dict()]
    assert main(["compile", str(d / "r18.onnx"), "--records", str(tmp_path / "none.jsonl")]) == 1
    assert "none.jsonl: no such tuning log" in capsys.readouterr().err
    # a record outside its task's space (the stem max pool has 2 channel blocks, not 9)
    pool = next(t for t in tasks if t.kind == "maxpool")
    bad = {"tile_h": 1, "tile_c": 9, "threads": 1}
    RecordLog(log).append([Record(pool.key, bad, MeasureResult(Status.OK, 1.0), pool.to_dict())])
    assert main(["compile", str(d / "r18.onnx"), "--config", "small", "--records", str(log),
                 "-o", str(out)]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert f"task {pool.name!r} (maxpool): knob tile_c=9 is outside its space" in err


def test_tune_a_whole_model_then_compile_with_its_records(compiled, tmp_path, capsys):
    d = compiled
    log = tmp_path / "tune.jsonl"
    assert main(["tune", str(d / "r18.onnx"), "--config", "small", "--trials", "2", "--batch",
                 "2", "--tuner", "random", "--log", str(log), "--no-progress"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "distinct accelerator task(s)" in err and "(maxpool)" in err
    base, tuned = tmp_path / "base.vtac", tmp_path / "tuned.vtac"
    assert main(["compile", str(d / "r18.onnx"), "--config", "small", "-o", str(base)]) == 0
    assert main(["compile", str(d / "r18.onnx"), "--config", "small", "--records", str(log),
                 "-o", str(tuned)]) == 0  # fmt: skip
    assert "tuned schedules: 23 of 23" in capsys.readouterr().out  # the max pool's too
    cycles = []
    for art in (base, tuned):
        assert main(["run", str(art), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["bit_exact"] is True
        cycles.append(doc["accel_cycles"])
    assert cycles[1] <= cycles[0]  # the log holds the heuristic's point too: never worse


def test_compile_per_tensor_flag(compiled, capsys):
    from runtime.artifact import load_artifact

    d = compiled
    args = ["compile", str(d / "r18.onnx"), "--calib", str(d / "calib.npy"), "--config", "small"]
    assert main([*args, "--per-tensor", "-o", str(d / "pt.vtac")]) == 0
    capsys.readouterr()
    assert load_artifact(d / "r18.vtac").meta["weight_scales"] == "per channel"
    assert load_artifact(d / "pt.vtac").meta["weight_scales"] == "per tensor"
    assert main(["run", str(d / "pt.vtac")]) == 0
    assert "bit-exact" in capsys.readouterr().out
