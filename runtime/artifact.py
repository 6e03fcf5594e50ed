"""The `.vtac` artifact: one compiled, linked model in one file (a zip; no pickle).

    manifest.json         format name + version, vtac version, hardware config, tensors, launches
                          (accelerator: buffer table + instruction file; CPU: nodes), DRAM layout,
                          compile facts, and the SHA-256 of every other member
    dram/const.npy        the constant DRAM image (weights, bias digits, micro-op kernels)
    programs/<i>.insn     launch i's instruction stream, 16 bytes per VTA instruction
    host/<k>.npy          constants that only CPU kernels read
    float/<k>.npy         the float model's constants (for `--device cpu`), unless left out

Arrays load with `allow_pickle=False`. A board runtime needs only the manifest, the DRAM image
and the instruction files; loading needs neither `onnx` nor the graph passes (a test checks).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from compiler.driver.model import (
    AccelLaunch,
    CpuLaunch,
    FloatModel,
    LinkedModel,
    NodeSpec,
    Tensor,
)
from hw_sim.config import ConfigError, HwConfig
from hw_sim.isa import IsaError, decode_program, encode_program
from hw_sim.program import DramBuffer, Program

FORMAT = "vtac-artifact"
VERSION = 1


class ArtifactError(ValueError):
    """An artifact that is missing, truncated, corrupt, of another version, or for another
    hardware config; the message names the file and what is wrong."""


def vtac_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vtac")
    except PackageNotFoundError:
        return "unknown"


# ----- JSON forms of attributes (tuples, arrays, bytes survive the round trip) ----------------
def _enc(v):
    if isinstance(v, np.ndarray):
        return {"__array__": v.tolist(), "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return {"__bytes__": v.decode("latin-1")}
    if isinstance(v, tuple | list):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    return v


def _dec(v):
    if isinstance(v, dict):
        if "__array__" in v:
            return np.array(v["__array__"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
        if "__bytes__" in v:
            return v["__bytes__"].encode("latin-1")
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return tuple(_dec(x) for x in v)
    return v


def _node_json(n: NodeSpec) -> dict:
    return {"name": n.name, "op": n.op, "inputs": list(n.inputs), "outputs": list(n.outputs),
            "attrs": _enc(n.attrs), "impl": n.impl, "why_numpy": n.why_numpy}  # fmt: skip


def _node(d: dict) -> NodeSpec:
    return NodeSpec(d["name"], d["op"], tuple(d["inputs"]), tuple(d["outputs"]),
                    _dec(d["attrs"]), d.get("impl", "llvm"), d.get("why_numpy", ""))  # fmt: skip


def _tensor_json(t: Tensor) -> dict:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "offset": t.offset,
            "const": t.const}  # fmt: skip


def _tensor(d: dict) -> Tensor:
    return Tensor(d["name"], tuple(d["shape"]), d["dtype"], d["offset"], d["const"])


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


# ----- save ---------------------------------------------------------------------------------
def save_artifact(model: LinkedModel, path: str | Path) -> int:
    """Write `model` to `path`; returns the file size in bytes."""
    files: dict[str, bytes] = {"dram/const.npy": _npy(model.const_image)}
    launches = []
    for i, la in enumerate(model.launches):
        common = {"name": la.name, "groups": la.groups, "reads": la.reads, "writes": la.writes,
                  "macs": la.macs}  # fmt: skip
        if isinstance(la, AccelLaunch):
            fname = f"programs/{i}.insn"
            files[fname] = encode_program(la.program.insns, model.cfg).tobytes()
            launches.append({**common, "kind": "accel", "nodes": la.nodes, "ops": la.ops,
                "program": fname, "n_insns": len(la.program.insns),
                "buffers": [{"name": b.name, "offset": b.offset, "shape": list(b.shape),
                             "dtype": b.dtype} for b in la.program.buffers.values()],
                "program_meta": _enc(la.program.meta), "padded_macs": la.padded_macs,
                "knobs": la.knobs, "ref_nodes": [_node_json(n) for n in la.ref_nodes]})  # fmt: skip
        else:
            launches.append({**common, "kind": "cpu", "nodes": [_node_json(n) for n in la.nodes],
                             "boundary": la.boundary, "reason": la.reason})  # fmt: skip
    host = {}
    for k, (name, arr) in enumerate(model.host_constants.items()):
        files[f"host/{k}.npy"] = _npy(arr)
        host[name] = f"host/{k}.npy"
    float_model = None
    if model.float_model is not None:
        fm = model.float_model
        consts = {}
        for k, (name, arr) in enumerate(fm.constants.items()):
            files[f"float/{k}.npy"] = _npy(arr)
            consts[name] = f"float/{k}.npy"
        float_model = {"inputs": fm.inputs, "outputs": fm.outputs, "opset": fm.opset,
                       "nodes": [_node_json(n) for n in fm.nodes],
                       "tensors": [_tensor_json(t) for t in fm.tensors.values()],
                       "constants": consts}  # fmt: skip
    manifest = {
        "format": FORMAT, "version": VERSION, "vtac_version": vtac_version(),
        "name": model.name, "config": model.cfg.to_dict(), "config_name": model.cfg.name,
        "opset": model.opset, "inputs": model.inputs, "outputs": model.outputs,
        "tensors": [_tensor_json(t) for t in model.tensors.values()],
        "launches": launches, "arena_offset": model.arena_offset,
        "arena_bytes": model.arena_bytes, "arena_total_bytes": model.arena_total_bytes,
        "host_constants": host, "float_model": float_model, "meta": _enc(model.meta),
        "sha256": {f: hashlib.sha256(b).hexdigest() for f, b in files.items()},
    }  # fmt: skip
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        for f, b in files.items():
            z.writestr(f, b)
    tmp.replace(path)  # a crash mid-write never leaves a half artifact under the real name
    return path.stat().st_size


# ----- load ---------------------------------------------------------------------------------
def config_differences(a: HwConfig, b: HwConfig) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    return [f"{k}: {da.get(k)} vs {db.get(k)}" for k in sorted(set(da) | set(db))
            if da.get(k) != db.get(k)]  # fmt: skip


def load_artifact(path: str | Path, expect_config: HwConfig | None = None) -> LinkedModel:
    """Read an artifact; with `expect_config`, refuse one built for another hardware config."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such artifact file" if not path.exists()
                            else f"{path}: not a file")  # fmt: skip
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ArtifactError(f"{path}: not a vtac artifact (no {FORMAT} manifest)")
            if manifest.get("version") != VERSION:
                raise ArtifactError(
                    f"{path}: artifact format version {manifest.get('version')!r} (written by vtac "
                    f"{manifest.get('vtac_version', '?')}); this vtac reads version {VERSION}"
                )
            files = {}
            for f, digest in manifest["sha256"].items():
                data = z.read(f)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise ArtifactError(f"{path}: member {f} fails its checksum (corrupt file)")
                files[f] = data
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError,
            EOFError, zipfile.LargeZipFile, ValueError) as e:  # fmt: skip
        raise ArtifactError(
            f"{path}: unreadable or truncated artifact ({type(e).__name__}: {e})"
        ) from None
    try:
        return _model(manifest, files, expect_config, path)
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, ConfigError, IsaError) as e:
        raise ArtifactError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from None


def _array(files: dict[str, bytes], name: str) -> np.ndarray:
    return np.load(io.BytesIO(files[name]), allow_pickle=False)


def _model(manifest: dict, files: dict, expect: HwConfig | None, path: Path) -> LinkedModel:
    cfg = HwConfig.from_dict(manifest["config"], name=manifest.get("config_name", "custom"))
    if expect is not None and expect.fingerprint != cfg.fingerprint:
        diff = "; ".join(config_differences(cfg, expect))
        raise ArtifactError(
            f"{path}: built for hardware config {cfg.name!r}, not {expect.name!r} ({diff})"
        )
    launches = []
    for d in manifest["launches"]:
        if d["kind"] == "accel":
            raw = np.frombuffer(files[d["program"]], dtype="<u8").reshape(-1, 2)
            insns = decode_program(raw, cfg)
            bufs = {b["name"]: DramBuffer(b["name"], b["offset"], tuple(b["shape"]), b["dtype"])
                    for b in d["buffers"]}  # fmt: skip
            prog = Program(cfg, insns, np.zeros(0, np.uint8), bufs, _dec(d["program_meta"]))
            launches.append(
                AccelLaunch(
                    d["name"],
                    d["groups"],
                    d["nodes"],
                    d["ops"],
                    prog,
                    d["reads"],
                    d["writes"],
                    d["macs"],
                    d["padded_macs"],
                    d["knobs"],
                    [_node(n) for n in d["ref_nodes"]],
                )
            )
        elif d["kind"] == "cpu":
            launches.append(CpuLaunch(d["name"], d["groups"], [_node(n) for n in d["nodes"]],
                                      d["reads"], d["writes"], d["macs"], d["boundary"],
                                      d["reason"]))  # fmt: skip
        else:
            raise ArtifactError(f"{path}: launch {d.get('name')!r} of unknown kind {d['kind']!r}")
    fm = None
    if manifest.get("float_model"):
        f = manifest["float_model"]
        fm = FloatModel(
            f["inputs"],
            f["outputs"],
            [_node(n) for n in f["nodes"]],
            {t["name"]: _tensor(t) for t in f["tensors"]},
            {k: _array(files, v) for k, v in f["constants"].items()},
            f["opset"],
        )
    meta = _dec(manifest["meta"])
    meta["vtac_version"] = manifest.get("vtac_version")
    return LinkedModel(
        manifest["name"], cfg, manifest["opset"], manifest["inputs"], manifest["outputs"],
        {t["name"]: _tensor(t) for t in manifest["tensors"]}, launches,
        _array(files, "dram/const.npy"), manifest["arena_offset"], manifest["arena_bytes"],
        manifest["arena_total_bytes"],
        {k: _array(files, v) for k, v in manifest["host_constants"].items()}, fm, meta,
    )  # fmt: skip
