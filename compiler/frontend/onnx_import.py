"""ONNX -> graph IR. The only module of vtac that imports `onnx`.

`import_onnx(model_or_path, shapes)` loads a model (opset 11 and up; older models are first
upgraded with ONNX's version converter), turns initializers and `Constant` nodes into graph
constants, fixes symbolic input dimensions from `shapes`, infers every type, and verifies the
result. Unsupported ops and attributes are reported all at once (`UnsupportedOpsError`), with
the op type, the nodes using it, and the opset; a malformed or truncated file raises
`ModelFormatError` naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.graph.ir import Graph, GraphError, NameGen, Node, TensorType
from compiler.graph.ref import KERNELS, KernelError
from compiler.graph.ref.dtypes import onnx_dtype_to_numpy
from compiler.graph.shape_infer import MAX_TENSOR_ELEMENTS, infer_types
from compiler.graph.verifier import verify

MIN_OPSET = 11
# Models below MIN_OPSET are upgraded to this opset with onnx.version_converter.
UPGRADE_TO_OPSET = 13


class FrontendError(ValueError):
    """The model cannot be imported; the message names the file, input, node or op."""


class ModelFormatError(FrontendError):
    """The file is not a readable ONNX model (malformed, truncated, empty)."""


class UnsupportedDtypeError(FrontendError):
    """A tensor or input of a data type the graph level does not hold (e.g. bfloat16)."""


class UnsupportedValueError(FrontendError):
    """A test-case value the graph level cannot hold (sequence, optional, unsupported dtype)."""


class UnsupportedOpsError(FrontendError):
    """Ops (or op variants) vtac cannot execute; `problems` maps op -> node names."""

    def __init__(self, message: str, problems: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.problems = problems


def _mode(attrs: Mapping[str, Any], key: str, default: str) -> str:
    v = attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


# Op variants the reference kernels do not implement: op -> check(attrs) -> problem or None.
ATTRIBUTE_CHECKS = {
    "Resize": lambda a: (
        f"mode={_mode(a, 'mode', 'nearest')!r} (use 'nearest', 'linear' or 'cubic')"
        if _mode(a, "mode", "nearest") not in ("nearest", "linear", "cubic")
        else (
            "antialias=1 with mode 'nearest' (antialias applies to linear and cubic)"
            if a.get("antialias", 0) and _mode(a, "mode", "nearest") == "nearest"
            else None
        )
    ),
    "BatchNormalization": lambda a: (
        "training_mode=1 (export the model in inference mode)"
        if a.get("training_mode", 0)
        else None
    ),
    "Pad": lambda a: (
        f"mode={_mode(a, 'mode', 'constant')!r} (use constant, reflect, edge or wrap)"
        if _mode(a, "mode", "constant") not in ("constant", "reflect", "edge", "wrap")
        else None
    ),
}


def supported_onnx_ops() -> list[str]:
    """ONNX op types the graph level can import and execute."""
    return sorted(op for op in KERNELS if not op.startswith("vtac."))


# ----- loading ----------------------------------------------------------------------------------
def load_model(source: str | Path | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Parse a model from a path, bytes or a ModelProto; errors name the file."""
    if isinstance(source, onnx.ModelProto):
        return source, source.graph.name or "model"
    if isinstance(source, bytes):
        data, label = source, "<bytes>"
    else:
        path = Path(source)
        label = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelFormatError(f"ONNX file not found: {path}") from None
        except IsADirectoryError:
            # Only the folder itself: `vtac inspect /` must not walk the whole filesystem.
            found = sorted(str(p) for p in path.glob("*.onnx"))[:5]
            hint = f"; .onnx files in it: {', '.join(found)}" if found else ""
            raise ModelFormatError(f"{path} is a directory, not an ONNX file{hint}") from None
        except OSError as e:
            raise ModelFormatError(f"cannot read ONNX file {path}: {e.strerror}") from None
    if not data:
        raise ModelFormatError(f"{label}: file is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ModelFormatError(
            f"{label}: not a valid ONNX model (malformed or truncated file, {len(data)} bytes): {e}"
        ) from None
    if not model.graph.node and not model.graph.output:
        raise ModelFormatError(f"{label}: parsed as protobuf but holds no graph (not ONNX?)")
    # No onnx.checker here: it rejects models onnxruntime runs (e.g. outputs without shapes);
    # the import below reports what is actually wrong, naming the node or value.
    stem = Path(label).stem if label != "<bytes>" else "model"
    return model, model.graph.name or stem


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 1


def upgrade_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    """Bring a model below MIN_OPSET up to UPGRADE_TO_OPSET with ONNX's version converter."""
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, UPGRADE_TO_OPSET)
    except Exception as e:
        raise FrontendError(
            f"model uses opset {default_opset(model)} (< {MIN_OPSET}) and ONNX's version converter "
            f"cannot upgrade it to {UPGRADE_TO_OPSET}: {e}"
        ) from None


# ----- conversion -------------------------------------------------------------------------------
def _attr_value(attr: onnx.AttributeProto, where: str) -> Any:
    t = onnx.AttributeProto
    if attr.type == t.INT:
        return int(attr.i)
    if attr.type == t.FLOAT:
        return float(attr.f)
    if attr.type == t.STRING:
        return attr.s.decode("utf-8", "replace")
    if attr.type == t.INTS:
        return tuple(int(v) for v in attr.ints)
    if attr.type == t.FLOATS:
        return tuple(float(v) for v in attr.floats)
    if attr.type == t.STRINGS:
        return tuple(s.decode("utf-8", "replace") for s in attr.strings)
    if attr.type == t.TENSOR:
        return numpy_helper.to_array(attr.t)
    raise FrontendError(f"{where}: attribute {attr.name!r} has unsupported type {attr.type}")


def _external_file(tensor: onnx.TensorProto, where: str, base_dir: Path | None) -> Path:
    """The file holding an external tensor's data: inside the model's folder, else refused."""
    location = next((e.value for e in tensor.external_data if e.key == "location"), "")
    if base_dir is None:
        raise FrontendError(f"{where}: its data is in an external file ({location!r}); load the "
                            "model from its file path so the file can be found")  # fmt: skip
    folder = base_dir.resolve()
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
        raise FrontendError(
            f"{where}: external data location {location!r} is outside the model's folder "
            f"{folder}; refused"
        )
    if not target.is_file():
        raise FrontendError(f"{where}: external data file {location!r} not found in {folder}")
    return target


def _tensor_to_array(tensor: onnx.TensorProto, where: str, base_dir: Path | None = None):
    if onnx_dtype_to_numpy(tensor.data_type) is None:
        raise UnsupportedDtypeError(f"{where}: data type {tensor.data_type} is not supported")
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims) or math.prod(dims) > MAX_TENSOR_ELEMENTS:
        raise FrontendError(f"{where}: dims {dims} are negative or too large")
    external = tensor.data_location == onnx.TensorProto.EXTERNAL
    folder = _external_file(tensor, where, base_dir).parent if external else None
    try:
        array = numpy_helper.to_array(tensor, base_dir=str(folder) if external else "")
    except Exception as e:  # data size disagreeing with dims, unreadable external data
        raise FrontendError(
            f"{where}: its data does not match its dims {dims} "
            f"({np.dtype(onnx_dtype_to_numpy(tensor.data_type)).name}): {type(e).__name__}: {e}"
        ) from None
    return np.array(order="C", object=array)


def _is_false_constant(model: onnx.ModelProto, name: str) -> bool:
    for init in model.graph.initializer:
        if init.name == name:
            return not bool(numpy_helper.to_array(init).any())
    return False


def collect_unsupported(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Every unsupported op (or variant) -> the names of the nodes using it."""
    problems: dict[str, list[str]] = {}
    for i, n in enumerate(model.graph.node):
        name = n.name or f"{n.op_type}_{i}"
        if n.domain not in ("", "ai.onnx"):
            problems.setdefault(f"{n.domain}::{n.op_type}", []).append(name)
            continue
        if n.op_type not in KERNELS or n.op_type.startswith("vtac."):
            problems.setdefault(n.op_type, []).append(name)
            continue
        check = ATTRIBUTE_CHECKS.get(n.op_type)
        if check:
            attrs = {a.name: _attr_value(a, name) for a in n.attribute if a.type != a.GRAPH}
            problem = check(attrs)
            if problem:
                problems.setdefault(f"{n.op_type} with {problem}", []).append(name)
        if n.op_type == "Dropout" and len(n.input) > 2 and n.input[2]:
            if not _is_false_constant(model, n.input[2]):
                problems.setdefault(
                    "Dropout with a training_mode input (inference only)", []
                ).append(name)
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in n.attribute):
            problems.setdefault(f"{n.op_type} (subgraph attribute)", []).append(name)
    return problems


def _input_type(vi: onnx.ValueInfoProto, shapes: Mapping[str, Sequence[int]]) -> TensorType:
    tt = vi.type.tensor_type
    np_dtype = onnx_dtype_to_numpy(tt.elem_type)
    if np_dtype is None:
        raise UnsupportedDtypeError(f"input {vi.name!r}: data type {tt.elem_type} is not supported")
    declared = [
        int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else (d.dim_param or "?")
        for d in tt.shape.dim
    ]
    if vi.name in shapes:
        given = tuple(int(s) for s in shapes[vi.name])
        if tt.HasField("shape") and len(given) != len(declared):
            raise FrontendError(
                f"input {vi.name!r}: given shape {given} has rank {len(given)}, model declares "
                f"rank {len(declared)} {tuple(declared)}"
            )
        for g, d in zip(given, declared, strict=False):
            if isinstance(d, int) and d != g:
                raise FrontendError(
                    f"input {vi.name!r}: given shape {given} conflicts with declared "
                    f"{tuple(declared)}"
                )
        return _checked_input(vi.name, TensorType(given, np.dtype(np_dtype).name))
    symbolic = [d for d in declared if not isinstance(d, int)]
    if symbolic or not tt.HasField("shape"):
        dims = ",".join(str(d) for d in declared)
        raise FrontendError(
            f"input {vi.name!r} has symbolic shape ({dims}); give a static shape: "
            f"--shape {vi.name}={_shape_hint(declared)}"
        )
    return _checked_input(vi.name, TensorType(tuple(declared), np.dtype(np_dtype).name))


def _shape_hint(declared: list) -> str:
    """A --shape value to fill in: the batch dimension as 1, other symbolic dimensions by their
    names in capitals (the user knows the image size; guessing 1 would mean 1x1 images)."""
    out = []
    for i, d in enumerate(declared):
        if isinstance(d, int):
            out.append(str(d))
        elif i == 0:
            out.append("1")
        else:
            out.append(str(d).upper() if d != "?" else f"D{i}")
    return ",".join(out)


def _checked_input(name: str, t: TensorType) -> TensorType:
    if t.size > MAX_TENSOR_ELEMENTS:
        raise FrontendError(
            f"input {name!r}: shape {t.shape} = {t.size:.3g} elements; vtac handles at most "
            "2**28 elements per tensor"
        )
    return t


def import_onnx(
    source: str | Path | bytes | onnx.ModelProto,
    shapes: Mapping[str, Sequence[int]] | None = None,
    verify_graph: bool = True,
    bind: Mapping[str, np.ndarray] | None = None,
    notes: list[str] | None = None,
) -> Graph:
    """Import an ONNX model as a typed, verified graph (see the module docstring).

    `shapes` fixes input shapes (required for symbolic dimensions); `bind` freezes inputs to
    given values, turning them into constants (e.g. a shape tensor fed as an input). `notes`,
    if given, receives what the import changed (an opset upgrade). External data must lie in
    the model's folder.
    """
    shapes = dict(shapes or {})
    bind = dict(bind or {})
    model, name = load_model(source)
    base_dir = Path(source).parent if isinstance(source, str | Path) else None
    opset = default_opset(model)
    if opset < MIN_OPSET:
        model = upgrade_opset(model)
        if notes is not None:
            notes.append(f"opset {opset}, upgraded to {UPGRADE_TO_OPSET} with ONNX's version "
                         "converter")  # fmt: skip
        opset = default_opset(model)
    problems = collect_unsupported(model)
    if problems:
        lines = [
            f"  {op}: used by {len(nodes)} node(s): {', '.join(nodes[:8])}"
            + (" ..." if len(nodes) > 8 else "")
            for op, nodes in sorted(problems.items())
        ]
        raise UnsupportedOpsError(
            f"model {name!r} (opset {opset}) uses {len(problems)} unsupported op(s):\n"
            + "\n".join(lines)
            + f"\nsupported ops: {', '.join(supported_onnx_ops())}",
            problems,
        )
    g = model.graph
    constants: dict[str, np.ndarray] = {}
    for init in g.initializer:
        constants[init.name] = _tensor_to_array(init, f"initializer {init.name!r}", base_dir)
    for k, v in bind.items():
        if k not in {vi.name for vi in g.input}:
            raise FrontendError(f"cannot bind {k!r}: the model has no input of that name")
        constants[k] = np.array(order="C", object=v)
    unknown_shapes = set(shapes) - {vi.name for vi in g.input}
    if unknown_shapes:
        raise FrontendError(
            f"--shape names unknown input(s) {sorted(unknown_shapes)}; "
            f"model inputs: {[vi.name for vi in g.input if vi.name not in constants]}"
        )
    inputs, input_types = [], {}
    for vi in g.input:
        if vi.name in constants:  # IR < 4: initializers are also listed as inputs
            continue
        input_types[vi.name] = _input_type(vi, shapes)
        inputs.append(vi.name)
    names = NameGen()
    names.taken.update(n.name for n in g.node if n.name)
    nodes: list[Node] = []
    for i, n in enumerate(g.node):
        node_name = (
            n.name
            if n.name and n.name not in {x.name for x in nodes}
            else names(f"{n.op_type}_{i}")
        )
        attrs = {a.name: _attr_value(a, f"node {node_name!r}") for a in n.attribute}
        if n.op_type == "Constant":
            from compiler.graph.ref import KernelCtx

            ctx = KernelCtx(attrs, opset, node_name, "Constant")
            if "sparse_value" in attrs or not attrs:
                raise FrontendError(f"node {node_name!r}: Constant without a dense value")
            constants[n.output[0]] = np.array(order="C", object=KERNELS["Constant"](ctx))
            continue
        nodes.append(Node(node_name, n.op_type, tuple(n.input), tuple(n.output), attrs))
    try:
        types, _ = infer_types(tuple(nodes), input_types, constants, opset)
    except (GraphError, KernelError) as e:
        raise FrontendError(f"model {name!r}: {e}") from None
    outputs = [o.name for o in g.output]
    for o in g.output:
        if o.name not in types:
            raise FrontendError(f"model {name!r}: graph output {o.name!r} is never computed")
    graph = Graph(name, tuple(inputs), tuple(outputs), tuple(nodes), types, constants, opset)
    graph = graph.with_nodes(graph.nodes)  # drop unused constants/types
    if verify_graph:
        verify(graph)
    return graph


# ----- the installed onnx package, for the conformance runner and scripts -----------------------
# (they go through these functions so that no other module of vtac imports onnx)
def onnx_version() -> str:
    """Version of the installed `onnx` package."""
    return onnx.__version__


def onnx_op_names() -> list[str]:
    """Every op of ONNX's default domain (any opset version), as the schemas spell them."""
    import onnx.defs

    return sorted(
        {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")}
    )


def onnx_node_test_cases() -> list:
    """ONNX's backend node test cases (`onnx.backend.test.case.node`), generated in memory."""
    import warnings

    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return node.collect_testcases()


def onnx_value_to_array(value: Any) -> np.ndarray:
    """A test-case input/output (TensorProto or NumPy value) as an array; raises
    `UnsupportedValueError` for sequences, optionals and dtypes the graph level lacks."""
    if isinstance(value, onnx.TensorProto):
        if onnx_dtype_to_numpy(value.data_type) is None:
            name = onnx.TensorProto.DataType.Name(value.data_type)
            raise UnsupportedValueError(f"data type {name} is not supported")
        return numpy_helper.to_array(value)
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise UnsupportedValueError(f"data type {array.dtype} is not supported")
        return array
    raise UnsupportedValueError("sequence/optional values")


def onnx_input_feeds(
    graph: Graph, rng: np.random.Generator, low: float = -1.0, high: float = 1.0
) -> dict[str, np.ndarray]:
    """Random feeds matching a graph's input types (floats uniform in [low, high))."""
    feeds = {}
    for name in graph.inputs:
        t = graph.types[name]
        if t.dtype.startswith("float"):
            feeds[name] = rng.uniform(low, high, t.shape).astype(t.dtype)
        else:
            feeds[name] = rng.integers(0, 2, t.shape).astype(t.dtype)
    return feeds


def export_onnx(graph: Graph, path: str | Path) -> None:
    """Write a float graph IR (ONNX ops only, e.g. a built-in model) as an ONNX file, so that
    onnxruntime and other tools can run the same model."""
    from onnx import helper

    def attr(v):
        if isinstance(v, np.ndarray):
            return numpy_helper.from_array(v)
        if isinstance(v, tuple):
            return list(v)
        return v

    nodes = []
    for n in graph.nodes:
        if n.op.startswith("vtac."):
            raise GraphError(f"export_onnx: node {n.name!r} is a vtac op ({n.op}), not ONNX")
        nodes.append(helper.make_node(n.op, list(n.inputs), list(n.outputs), name=n.name,
                                      **{k: attr(v) for k, v in n.attrs.items()}))  # fmt: skip

    def info(name):
        t = graph.types[name]
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype))
        return helper.make_tensor_value_info(name, elem, list(t.shape))

    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in graph.constants.items()]
    g = helper.make_graph(nodes, graph.name, [info(i) for i in graph.inputs],
                          [info(o) for o in graph.outputs], inits)  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
