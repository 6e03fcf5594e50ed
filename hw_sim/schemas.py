"""JSON Schemas of vtac's JSON inputs — the hardware config and the `.vtaprog` header — and the
one function that checks a document against them.

Every value read from a file passes through `check` before anything uses it, so a wrong type,
a negative count, an absurd size, NaN or an unknown key is one `SchemaError` naming the field
(`header field buffers[1].dtype: 'O' is not one of ...`) instead of a traceback or a silently
accepted value. Derived consistency rules (buffer depths, micro-op width) stay in
`HwConfig._validate`; the size checks of the program body stay in `Program.from_bytes`.
"""

from __future__ import annotations

import math

import jsonschema

# Bounds of the config's integer parameters. The LOG_* keys are checked for consistency again by
# HwConfig; these bounds keep every derived size representable (a 2**5000 buffer, a 10**9-entry
# queue) before that arithmetic runs.
CONFIG_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "LOG_INP_WIDTH": (0, 6),
    "LOG_WGT_WIDTH": (0, 6),
    "LOG_ACC_WIDTH": (0, 6),
    "LOG_BATCH": (0, 8),
    "LOG_BLOCK": (0, 10),
    "LOG_UOP_BUFF_SIZE": (0, 40),
    "LOG_INP_BUFF_SIZE": (0, 40),
    "LOG_WGT_BUFF_SIZE": (0, 40),
    "LOG_ACC_BUFF_SIZE": (0, 40),
    "LOG_BUS_WIDTH": (0, 16),
    "DRAM_LATENCY": (0, 1 << 16),
    "MAX_BURST_BEATS": (1, 1 << 16),
    "CMD_QUEUE_DEPTH": (1, 1 << 16),
    "TOKEN_LATENCY": (0, 1 << 16),
    "GEMM_PIPELINE": (0, 1 << 16),
    "ALU_PIPELINE": (0, 1 << 16),
}
MAX_CLOCK_MHZ = 100_000.0
# Keys a config file may hold besides the parameters: VTA's TARGET, and comments ("_comment").
CONFIG_EXTRA_KEYS = {"TARGET": {"type": "string", "maxLength": 64}}

MAX_N_INSNS = 1 << 31
MAX_DRAM_BYTES = 1 << 40
# NumPy dtype strings a DRAM buffer may have: little-endian or byte-order-free ints and floats.
BUFFER_DTYPES = ["|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"]


class SchemaError(ValueError):
    """A JSON document does not match its schema; the message names the field."""


def config_schema(field_types: dict[str, type]) -> dict:
    """The schema of a hardware config whose parameters are `field_types` (name -> int/float/
    str, from the `HwConfig` dataclass: a parameter added there is accepted here by its type)."""
    props: dict[str, dict] = dict(CONFIG_EXTRA_KEYS)
    for name, typ in field_types.items():
        if name in CONFIG_INT_BOUNDS:
            lo, hi = CONFIG_INT_BOUNDS[name]
            props[name] = {"type": "integer", "minimum": lo, "maximum": hi}
        elif name == "CLOCK_MHZ":
            props[name] = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CLOCK_MHZ}
        elif name == "LAUNCH_OVERHEAD_US":  # host time per launch; an hour is absurd already
            props[name] = {"type": "number", "minimum": 0, "maximum": 3.6e9}
        elif typ is str:
            props[name] = {"type": "string", "maxLength": 256}
        elif typ is bool:
            props[name] = {"type": "boolean"}
        else:
            props[name] = {"type": "integer" if typ is int else "number"}
    return {
        "type": "object",
        "properties": props,
        "patternProperties": {"^_": {}},  # "_comment" and friends
        "additionalProperties": False,
    }


def header_schema(cfg_schema: dict) -> dict:
    """The schema of a `.vtaprog` header (see `hw_sim.program`)."""
    size = {"type": "integer", "minimum": 0, "maximum": MAX_DRAM_BYTES}
    return {
        "type": "object",
        "required": ["format", "config", "n_insns", "dram_bytes", "buffers"],
        "properties": {
            "format": {"type": "integer"},
            "config": cfg_schema,
            "config_name": {"type": "string", "maxLength": 256},
            "n_insns": {"type": "integer", "minimum": 0, "maximum": MAX_N_INSNS},
            "dram_bytes": size,
            "buffers": {
                "type": "array",
                "maxItems": 1 << 16,
                "items": {
                    "type": "object",
                    "required": ["name", "offset", "shape", "dtype"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 256},
                        "offset": size,
                        "shape": {"type": "array", "maxItems": 16, "items": size},
                        "dtype": {"enum": BUFFER_DTYPES},
                    },
                },
            },
            "meta": {"type": "object"},
        },
        "additionalProperties": False,
    }


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _no_bad_floats(doc, path=()) -> None:
    """JSON has no NaN/inf, but Python's parser accepts them: refuse them wherever they are."""
    stack = [(doc, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"field {_path(p)}: {v} is not a finite number")
        if isinstance(v, dict):
            stack.extend((x, (*p, k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, (*p, i)) for i, x in enumerate(v))


def _strict_integer(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # 4.0 is not an integer here


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def check(doc, schema: dict, what: str) -> None:
    """Raise `SchemaError("<what> field <path>: <problem>")` unless `doc` matches `schema`."""
    try:
        _no_bad_floats(doc)
    except SchemaError as e:
        raise SchemaError(f"{what} {e}") from None
    err = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(doc))
    if err is None:
        return
    where = f"{what} field {_path(err.absolute_path)}" if err.absolute_path else what
    if err.validator == "additionalProperties":
        known = schema_at(schema, err.absolute_path).get("properties", {})
        unknown = [k for k in err.instance if k not in known and not str(k).startswith("_")]
        raise SchemaError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
            + ", ".join(repr(k) for k in unknown)
            + "; known: "
            + ", ".join(sorted(known))
        )
    raise SchemaError(f"{where}: {_short(err.message)}")


def schema_at(schema: dict, path) -> dict:
    """The sub-schema that describes the value at `path` (object properties and array items)."""
    for p in path:
        schema = schema["items"] if isinstance(p, int) else schema.get("properties", {}).get(p, {})
    return schema


def _short(message: str) -> str:
    """jsonschema quotes the whole offending value: keep the message one readable line."""
    return message if len(message) <= 200 else message[:100] + " ... " + message[-80:]
