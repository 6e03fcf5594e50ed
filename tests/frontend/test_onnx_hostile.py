"""Hostile ONNX models through `vtac inspect`: every one is a one-line error naming the node,
tensor or input at fault (no traceback, no memory blow-up); external data outside the model's
folder is refused; an opset upgrade is said; `vtac inspect /` does not walk the filesystem."""

from __future__ import annotations

import pytest

from compiler.frontend.onnx_import import FrontendError, import_onnx
from runtime.cli import main
from tests.frontend.hostile_models import HOSTILE_MODELS, _old_opset, write_model


@pytest.mark.parametrize("name", sorted(HOSTILE_MODELS))
def test_hostile_model_is_one_line(name, tmp_path, capsys):
    path = write_model(name, tmp_path)
    expected = HOSTILE_MODELS[name][1]
    assert main(["inspect", str(path)]) == (0 if expected is None else 1)
    err = capsys.readouterr().err.strip()
    if expected is not None:
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        assert expected in err


def test_external_data_inside_the_folder_loads(tmp_path):
    import numpy as np

    path = write_model("external_data_missing", tmp_path)
    (path.parent / "weights.bin").write_bytes(np.full(108, 0.5, np.float32).tobytes())
    g = import_onnx(path)
    assert float(np.asarray(g.constants["w"]).sum()) == 54.0
    with pytest.raises(FrontendError, match="load the model from its file path"):
        import_onnx(path.read_bytes())


def test_opset_upgrade_is_reported(tmp_path, capsys):
    path = tmp_path / "old.onnx"
    path.write_bytes(_old_opset().SerializeToString())
    notes: list[str] = []
    assert import_onnx(path, notes=notes).opset == 13
    assert notes == ["opset 9, upgraded to 13 with ONNX's version converter"]
    assert main(["inspect", str(path), "--float"]) == 0
    assert "note: opset 9, upgraded to 13" in capsys.readouterr().err


def test_inspect_of_a_folder_does_not_walk_it(tmp_path, capsys):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "m.onnx").write_bytes(b"x")
    (tmp_path / "top.onnx").write_bytes(b"x")
    assert main(["inspect", str(tmp_path)]) != 0  # (a built-in name is checked first)
    assert "is a directory" in capsys.readouterr().err
    with pytest.raises(FrontendError) as e:
        import_onnx(tmp_path)
    assert "top.onnx" in str(e.value) and "m.onnx" not in str(e.value)


def test_symbolic_shape_hint_does_not_suggest_1x1_images(tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "height", "width"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(FrontendError, match=r"--shape x=1,3,HEIGHT,WIDTH$"):
        import_onnx(m)
