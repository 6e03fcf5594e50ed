"""Parse the text form of a graph (`printer.py`, grammar in `docs/graph.md`) back to a Graph.

Constants are printed by type only, so their values are passed in (`constants`); array
attributes printed as a hash must be passed in `arrays` (keyed by node name and attribute).
The partition `reason` is not part of the text and comes back empty. For any printable graph
with those given, `parse_graph(print_graph(g), g.constants) == g` up to the reasons.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from compiler.graph.ir import DTYPE_SHORT, Graph, GraphError, Node, TensorType

SHORT_TO_DTYPE = {v: k for k, v in DTYPE_SHORT.items()}
_TYPE = re.compile(r"^([a-z0-9]+)\[([0-9,]*)\]")
_NODE = re.compile(r"^(?P<outs>.*?) = (?P<op>[\w.]+)\((?P<args>[^)]*)\)(?: \{(?P<attrs>.*)\})?$")


class ParseError(GraphError):
    """The text is not a graph in vtac's text form; names the line."""


def parse_type(text: str) -> tuple[TensorType, str]:
    """A type at the start of `text`, and the rest of the text."""
    m = _TYPE.match(text)
    if not m or m.group(1) not in SHORT_TO_DTYPE:
        raise ParseError(f"expected a type like f32[1,2], got {text!r}")
    dims = tuple(int(d) for d in m.group(2).split(",") if d)
    return TensorType(dims, SHORT_TO_DTYPE[m.group(1)]), text[m.end() :]


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse_value(text: str, where: str, arrays: Mapping[str, np.ndarray]) -> Any:
    text = text.strip()
    if _TYPE.match(text) and _TYPE.match(text).group(1) in SHORT_TO_DTYPE:
        t, rest = parse_type(text)
        if rest.startswith("#"):
            if where not in arrays:
                raise ParseError(f"{where}: array attribute printed as a hash; pass its value")
            return arrays[where]
        return np.array(ast.literal_eval(rest), dtype=t.dtype).reshape(t.shape)
    if text.startswith("["):
        return tuple(parse_value(p, where, arrays) for p in _split_top(text[1:-1]))
    if text in ("inf", "-inf", "nan"):
        return float(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ParseError(f"{where}: cannot parse attribute value {text!r}") from None


def parse_graph(
    text: str,
    constants: Mapping[str, np.ndarray] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
) -> Graph:
    constants = dict(constants or {})
    arrays = dict(arrays or {})
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = re.match(r"^graph (\S+) \(opset (\d+)\) \{$", lines[0]) if lines else None
    if not head or lines[-1] != "}":
        raise ParseError("expected 'graph NAME (opset N) {' ... '}'")
    name, opset = head.group(1), int(head.group(2))
    inputs, outputs, nodes = [], [], []
    types: dict[str, TensorType] = {}
    for lineno, raw in enumerate(lines[1:-1], start=2):
        line = raw.strip()
        where = f"line {lineno}"
        if line.startswith("input %"):
            vname, _, ty = line[len("input %") :].partition(": ")
            types[vname], _ = parse_type(ty)
            inputs.append(vname)
        elif line.startswith("const %"):
            vname, _, ty = line[len("const %") :].partition(": ")
            types[vname], _ = parse_type(ty)
            if vname not in constants:
                raise ParseError(f"{where}: no value given for constant {vname!r}")
            if TensorType.of(np.asarray(constants[vname])) != types[vname]:
                raise ParseError(f"{where}: constant {vname!r} value does not match {ty}")
        elif line.startswith("return "):
            outputs = [o.strip()[1:] for o in line[len("return ") :].split(",")]
        else:
            body, sep, tags = line.rpartition("  # ")
            m = _NODE.match(body) if sep else None
            if not m:
                raise ParseError(f"{where}: cannot parse node line {line!r}")
            tag_parts = tags.split(" ")
            node_name, group, target = tag_parts[0], None, None
            for tag in tag_parts[1:]:
                key, _, value = tag.partition("=")
                if key == "group":
                    group = int(value)
                elif key == "target":
                    target = value
            outs = []
            for part in _split_top(m.group("outs")):
                if part == "_":
                    outs.append("")
                    continue
                vname, _, ty = part[1:].partition(": ")
                types[vname], _ = parse_type(ty)
                outs.append(vname)
            args = [a[1:] if a.startswith("%") else "" for a in _split_top(m.group("args"))]
            attrs = {}
            for item in _split_top(m.group("attrs") or ""):
                key, _, value = item.partition("=")
                attrs[key] = parse_value(value, f"{node_name}.{key}", arrays)
            nodes.append(Node(node_name, m.group("op"), tuple(args), tuple(outs), attrs, group,
                              target))  # fmt: skip
    consts = {k: v for k, v in constants.items() if k in types}
    return Graph(name, tuple(inputs), tuple(outputs), tuple(nodes), types, consts, opset)
