"""The .vtac artifact: round trip, clear errors, and loading without onnx or the graph passes."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from hw_sim.config import load_config
from runtime.artifact import ArtifactError, load_artifact, save_artifact
from runtime.executor import Executor
from tests.model.helpers import samples, small_resnet


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    g, model = small_resnet("small")
    path = tmp_path_factory.mktemp("art") / "m.vtac"
    save_artifact(model, path)
    return g, model, path


@pytest.mark.sim
def test_round_trip_runs_identically(saved):
    g, model, path = saved
    loaded = load_artifact(path)
    assert loaded.cfg.fingerprint == model.cfg.fingerprint
    assert [la.name for la in loaded.launches] == [la.name for la in model.launches]
    for a, b in zip(loaded.accel_launches(), model.accel_launches(), strict=True):
        assert a.program.insns == b.program.insns and a.program.buffers == b.program.buffers
    np.testing.assert_array_equal(loaded.const_image, model.const_image)
    feed = samples(g, 1, seed=2)[0]
    a, b = Executor(loaded).run(feed), Executor(model).run(feed)
    for k in a.outputs:
        np.testing.assert_array_equal(a.outputs[k], b.outputs[k])
    assert [r.cycles for r in a.launches] == [r.cycles for r in b.launches]


def _rewrite(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    edit(members)
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_corrupt_truncated_future_and_foreign_artifacts_are_clear_errors(saved, tmp_path):
    _, _, path = saved
    data = path.read_bytes()
    (tmp_path / "trunc.vtac").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="trunc.vtac: unreadable or truncated"):
        load_artifact(tmp_path / "trunc.vtac")
    (tmp_path / "junk.vtac").write_bytes(b"not a zip at all")
    with pytest.raises(ArtifactError, match="junk.vtac"):
        load_artifact(tmp_path / "junk.vtac")

    def flip(m):
        b = bytearray(m["dram/const.npy"])
        b[-1] ^= 0xFF
        m["dram/const.npy"] = bytes(b)

    _rewrite(path, tmp_path / "flip.vtac", flip)
    with pytest.raises(ArtifactError, match="dram/const.npy fails its checksum"):
        load_artifact(tmp_path / "flip.vtac")

    def future(m):
        man = json.loads(m["manifest.json"])
        man["version"] = 99
        m["manifest.json"] = json.dumps(man).encode()

    _rewrite(path, tmp_path / "future.vtac", future)
    with pytest.raises(ArtifactError, match="format version 99.*reads version 1"):
        load_artifact(tmp_path / "future.vtac")
    with pytest.raises(
        ArtifactError,
        match=r"built for hardware config 'small', not 'default' \(.*LOG_BLOCK: 3 vs 4",
    ):
        load_artifact(path, expect_config=load_config("default"))
    with pytest.raises(ArtifactError, match="no such artifact"):
        load_artifact(tmp_path / "missing.vtac")
    with pytest.raises(ArtifactError, match="not a file"):
        load_artifact(tmp_path)


def test_loading_and_running_needs_neither_onnx_nor_the_graph_passes(saved):
    _, _, path = saved
    code = f"""
import sys, numpy as np
from runtime.artifact import load_artifact
from runtime.executor import Executor
m = load_artifact({str(path)!r})
x = np.zeros(m.tensors[m.inputs[0]].shape, np.float32)
Executor(m).run({{m.inputs[0]: x}})
bad = [k for k in sys.modules if k == "onnx" or k.startswith(("onnx.", "compiler.frontend",
       "compiler.graph.passes", "compiler.graph.quant", "compiler.graph.pipeline",
       "compiler.vta"))]  # the CPU kernels build from TE + schedules at load; no VTA compiler
print("IMPORTED", bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "IMPORTED []" in out.stdout, out.stdout + out.stderr
