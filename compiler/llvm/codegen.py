"""Loop IR -> LLVM IR text (llvmlite's IR builder).

Contract of the generated module (see docs/cpu.md):

- The function body is cut into *stages*: the top-level statements, in order. A top-level
  `For(kind=parallel)` with a constant extent is a stage of its own; consecutive other
  statements form serial stages. Each stage is one LLVM function
  `void <sym>_s<k>(T0* noalias p0, ..., i64 begin, i64 end)` taking the PrimFunc's buffers,
  then the top-level global-scope `Allocate`s (temporaries the runtime allocates), then the
  iteration range `[begin, end)` of the parallel loop (ignored by serial stages). The runtime
  (`compiler/cpu/runtime.py`) splits a parallel stage's range over its thread pool.
  Parallel loops nested below the top level run serially.
- `vectorized` loops with a constant extent (and no if-statement testing the lane) become
  explicit LLVM vectors (at most `MAX_LANES`
  lanes at a time; longer loops are chunked). Accesses contiguous in the loop variable become
  vector loads/stores, invariant ones scalar loads broadcast on use, others gathers/scatters.
- `unrolled` loops with a constant extent are unrolled here, so local accumulators indexed by
  the unrolled variables end up at constant offsets and LLVM (SROA) keeps them in registers.
- Nested `Allocate`s become stack slots in the entry block (their shape must be constant).
- Float `a * b + c` is emitted as `llvm.fmuladd`, so LLVM fuses it into an FMA.
Symbols carry the placeholder `SYMBOL_PLACEHOLDER`; the JIT replaces it with a content hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.llvm.affine import affine_coeff, flat_index, uses_var
from compiler.llvm.binding import ir
from compiler.llvm.types import (
    I8,
    I32,
    I64,
    REG_TYPES,
    UNSIGNED,
    elem_bytes,
    mem_type,
    scalar,
    type_suffix,
    widen,
    zero,
)
from compiler.llvm.vecmath import exp_f32, tanh_f32
from compiler.tir.affine import vars_in
from compiler.tir.nodes import (
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Call,
    Cast,
    Const,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    Load,
    PrimFunc,
    Select,
    Seq,
    Store,
    Var,
    is_float,
)
from compiler.tir.visit import walk

SYMBOL_PLACEHOLDER = "__VTACSYM__"
MAX_LANES = 16

# Loop-IR call name -> (LLVM intrinsic base name, arity); all take and return floats.
FLOAT_INTRINSICS = {
    "exp": ("llvm.exp", 1),
    "log": ("llvm.log", 1),
    "sqrt": ("llvm.sqrt", 1),
    "tanh": ("llvm.tanh", 1),
    "fabs": ("llvm.fabs", 1),
    "floor": ("llvm.floor", 1),
    "ceil": ("llvm.ceil", 1),
    "round": ("llvm.roundeven", 1),  # half to even, as numpy.round
    "trunc": ("llvm.trunc", 1),
    "sin": ("llvm.sin", 1),
    "cos": ("llvm.cos", 1),
    "pow": ("llvm.pow", 2),
    "fma": ("llvm.fma", 3),
}


class CodegenError(ValueError):
    """The loop IR uses something the LLVM backend cannot compile; the message names it."""


@dataclass(frozen=True)
class StageInfo:
    """One entry point: `symbol` (with the placeholder) and the parallel extent, if any."""

    symbol: str
    parallel_extent: int | None


@dataclass(frozen=True)
class ModuleCode:
    text: str
    stages: tuple[StageInfo, ...]
    temps: tuple[Buffer, ...]  # runtime-allocated temporaries, passed after the params


def buffer_size(buf: Buffer) -> int:
    """Elements a buffer spans (constant shapes/strides only)."""
    dims = [d.value if isinstance(d, Const) else d for d in buf.shape]
    if not all(isinstance(d, int) for d in dims):
        raise CodegenError(
            f"buffer {buf.name}: the LLVM backend needs a constant shape, got {dims}"
        )
    if buf.strides is None:
        return math.prod(dims)
    strides = [s.value if isinstance(s, Const) else s for s in buf.strides]
    if not all(isinstance(s, int) for s in strides):
        raise CodegenError(f"buffer {buf.name}: strides must be constant, got {strides}")
    return 1 + sum((d - 1) * s for d, s in zip(dims, strides, strict=True))


def split_stages(func: PrimFunc) -> tuple[list[Buffer], list[tuple[object, bool]]]:
    """(temporaries, [(stage statement, is_parallel)]) per the module contract above."""
    body = func.body
    temps: list[Buffer] = []
    while isinstance(body, Allocate | Attr) and (
        isinstance(body, Attr) or body.buffer.scope == "global"
    ):
        if isinstance(body, Allocate):
            temps.append(body.buffer)
        body = body.body
    stmts = body.stmts if isinstance(body, Seq) else (body,)
    stages: list[tuple[object, bool]] = []
    serial: list = []
    for s in stmts:
        if isinstance(s, For) and s.kind == ForKind.PARALLEL and isinstance(s.extent, Const):
            if serial:
                stages.append((Seq(tuple(serial)) if len(serial) > 1 else serial[0], False))
                serial = []
            stages.append((s, True))
        else:
            serial.append(s)
    if serial:
        stages.append((Seq(tuple(serial)) if len(serial) > 1 else serial[0], False))
    return temps, stages


def generate(func: PrimFunc, triple: str = "") -> ModuleCode:
    """Compile a PrimFunc to the text of an LLVM module (unoptimized)."""
    module = ir.Module(name=func.name)
    if triple:
        module.triple = triple
    temps, stages = split_stages(func)
    buffers = list(func.params) + temps
    infos = []
    for k, (stmt, parallel) in enumerate(stages):
        sym = f"{SYMBOL_PLACEHOLDER}{func.name}_s{k}"
        _FunctionGen(module, sym, buffers).emit(stmt, parallel)
        infos.append(StageInfo(sym, int(stmt.extent.value) if parallel else None))
    return ModuleCode(str(module), tuple(infos), tuple(temps))


class _FunctionGen:
    def __init__(self, module: ir.Module, symbol: str, buffers: list[Buffer]):
        self.module = module
        arg_types = [mem_type(b.dtype).as_pointer() for b in buffers] + [I64, I64]
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), arg_types), symbol)
        self.fn.attributes.add("nounwind")
        for arg, buf in zip(self.fn.args, buffers, strict=False):
            arg.add_attribute("noalias")
            arg.name = buf.name
        self.bufs: dict[Buffer, ir.Value] = dict(zip(buffers, self.fn.args, strict=False))
        self.alloca_block = self.fn.append_basic_block("allocas")
        self.alloca_builder = ir.IRBuilder(self.alloca_block)
        self.b = ir.IRBuilder(self.fn.append_basic_block("start"))
        self.env: dict[Var, ir.Value] = {}
        self.vec: tuple[Var, ir.Value, int] | None = None  # (var, scalar base, lanes)

    def emit(self, stmt, parallel: bool) -> None:
        begin, end = self.fn.args[-2], self.fn.args[-1]
        if parallel:
            var = stmt.var
            ty = REG_TYPES[var.dtype]
            lo = self.b.trunc(begin, ty) if ty.width < 64 else begin
            hi = self.b.trunc(end, ty) if ty.width < 64 else end
            start = self.b.add(self.expr(stmt.min), lo)
            count = self.b.sub(hi, lo)
            self._loop(var, start, count, lambda: self.stmt(stmt.body))
        else:
            self.stmt(stmt)
        self.b.ret_void()
        self.alloca_builder.branch(self.fn.blocks[1])

    # ----- statements -------------------------------------------------------------------
    def stmt(self, s) -> None:
        if isinstance(s, Seq):
            for x in s.stmts:
                self.stmt(x)
        elif isinstance(s, Store):
            self._store(s)
        elif isinstance(s, For):
            self._for(s)
        elif isinstance(s, IfThenElse):
            self._if(s)
        elif isinstance(s, Allocate):
            self._allocate(s)
        elif isinstance(s, Attr):
            self.stmt(s.body)
        elif isinstance(s, Evaluate):
            self.expr(s.value)
        elif isinstance(s, LetStmt):
            saved = self.env.get(s.var)
            self.env[s.var] = self.expr(s.value)
            self.stmt(s.body)
            self._restore(s.var, saved)
        else:
            raise CodegenError(f"not a loop-IR statement: {s!r}")

    def _restore(self, var: Var, saved) -> None:
        if saved is None:
            self.env.pop(var, None)
        else:
            self.env[var] = saved

    def _for(self, s: For) -> None:
        const_extent = isinstance(s.extent, Const)
        saved = self.env.get(s.var)
        if (
            s.kind == ForKind.VECTORIZED
            and const_extent
            and self.vec is None
            and not _lane_dependent_branch(s.body, s.var)
        ):
            self._vector_loop(s)
        elif s.kind in (ForKind.UNROLLED, ForKind.VECTORIZED) and const_extent:
            lo = self.expr(s.min)
            for k in range(int(s.extent.value)):
                if isinstance(lo, ir.Constant):
                    self.env[s.var] = ir.Constant(lo.type, lo.constant + k)
                else:
                    self.env[s.var] = self.b.add(lo, ir.Constant(lo.type, k))
                self.stmt(s.body)
        else:
            start, count = self.expr(s.min), self.expr(s.extent)
            if isinstance(count.type, ir.VectorType) or isinstance(start.type, ir.VectorType):
                raise CodegenError(
                    f"loop {s.var.name}: bounds depend on the enclosing vectorized loop"
                )
            self._loop(s.var, start, count, lambda: self.stmt(s.body))
        self._restore(s.var, saved)

    def _loop(self, var: Var, start: ir.Value, count: ir.Value, body) -> None:
        """for k in [0, count): var = start + k; body()"""
        ty = count.type
        pre = self.b.block
        header = self.fn.append_basic_block(f"{var.name}.head")
        body_bb = self.fn.append_basic_block(f"{var.name}.body")
        exit_bb = self.fn.append_basic_block(f"{var.name}.exit")
        self.b.branch(header)
        self.b.position_at_end(header)
        k = self.b.phi(ty, name=f"{var.name}.k")
        k.add_incoming(ir.Constant(ty, 0), pre)
        self.b.cbranch(self.b.icmp_signed("<", k, count), body_bb, exit_bb)
        self.b.position_at_end(body_bb)
        self.env[var] = self.b.add(start, k, flags=("nsw",))
        body()
        k_next = self.b.add(k, ir.Constant(ty, 1), flags=("nsw",))
        k.add_incoming(k_next, self.b.block)
        self.b.branch(header)
        self.b.position_at_end(exit_bb)

    def _vector_loop(self, s: For) -> None:
        extent = int(s.extent.value)
        lanes = min(extent, MAX_LANES)
        lo = self.expr(s.min)
        full, tail = divmod(extent, lanes)

        def chunk(base: ir.Value, n: int) -> None:
            self.vec = (s.var, base, n)
            ramp = ir.Constant(ir.VectorType(base.type, n), list(range(n)))
            self.env[s.var] = self.b.add(self._splat(base, n), ramp)
            self.stmt(s.body)
            self.vec = None

        if full == 1:
            chunk(lo, lanes)
        elif full > 1:
            chunk_var = Var(f"{s.var.name}.chunk", s.var.dtype)

            def body():
                off = self.b.mul(self.env[chunk_var], ir.Constant(lo.type, lanes))
                chunk(self.b.add(lo, off), lanes)

            self._loop(chunk_var, ir.Constant(lo.type, 0), ir.Constant(lo.type, full), body)
        if tail:
            chunk(self.b.add(lo, ir.Constant(lo.type, full * lanes)), tail)

    def _if(self, s: IfThenElse) -> None:
        cond = self.expr(s.cond)
        if isinstance(cond.type, ir.VectorType):
            raise CodegenError(
                "if-statement condition varies across a vectorized loop; use a Select"
            )
        if s.else_case is None:
            with self.b.if_then(cond):
                self.stmt(s.then_case)
        else:
            with self.b.if_else(cond) as (then, other):
                with then:
                    self.stmt(s.then_case)
                with other:
                    self.stmt(s.else_case)

    def _allocate(self, s: Allocate) -> None:
        ty = ir.ArrayType(mem_type(s.buffer.dtype), buffer_size(s.buffer))
        slot = self.alloca_builder.alloca(ty, name=s.buffer.name)
        slot.align = 64
        self.bufs[s.buffer] = self.alloca_builder.bitcast(slot, ty.element.as_pointer())
        self.stmt(s.body)
        del self.bufs[s.buffer]

    # ----- memory -----------------------------------------------------------------------
    def _address(self, buf: Buffer, indices, node_kind: str):
        """(pointer or None, vector of pointers or None, lanes) for an access."""
        if buf not in self.bufs:
            raise CodegenError(
                f"{node_kind} of buffer {buf.name}: not a parameter and not allocated here"
            )
        base = self.bufs[buf]
        flat = flat_index(buf, indices)
        idx = self.expr(flat)
        if not isinstance(idx.type, ir.VectorType):
            return self.b.gep(base, [self._to_i64(idx)], inbounds=True), None, 0
        var, lane0, lanes = self.vec
        if affine_coeff(flat, var) == 1 and not self._other_vector_vars(flat, var):
            saved = self.env[var]
            self.env[var] = lane0
            idx0 = self.expr(flat)
            self.env[var] = saved
            ptr = self.b.gep(base, [self._to_i64(idx0)], inbounds=True)
            return ptr, None, lanes
        idx64 = self._to_i64(idx)
        ptrs = [
            self.b.gep(base, [self.b.extract_element(idx64, ir.Constant(I32, j))], inbounds=True)
            for j in range(lanes)
        ]
        return None, ptrs, lanes

    def _other_vector_vars(self, expr, var: Var) -> bool:
        return any(
            n is not var and n in self.env and isinstance(self.env[n].type, ir.VectorType)
            for n in vars_in(expr)
        )

    def _load(self, e: Load) -> ir.Value:
        ptr, ptrs, lanes = self._address(e.buffer, e.indices, "load")
        elem = mem_type(e.buffer.dtype)
        if ptrs is None and lanes == 0:
            val = self.b.load(ptr)
        elif ptrs is None:
            vty = ir.VectorType(elem, lanes)
            val = self.b.load(self.b.bitcast(ptr, vty.as_pointer()), align=elem_bytes(elem))
        else:
            val = ir.Constant(ir.VectorType(elem, lanes), ir.Undefined)
            for j, p in enumerate(ptrs):
                val = self.b.insert_element(val, self.b.load(p), ir.Constant(I32, j))
        if e.buffer.dtype == "bool":
            val = self.b.icmp_unsigned("!=", val, zero(val.type))
        return val

    def _store(self, s: Store) -> None:
        val = self.expr(s.value)
        if s.value.dtype != s.buffer.dtype:
            raise CodegenError(
                f"store to {s.buffer.name}: value is {s.value.dtype}, buffer is {s.buffer.dtype}"
            )
        ptr, ptrs, lanes = self._address(s.buffer, s.indices, "store")
        if s.buffer.dtype == "bool":
            val = self.b.zext(val, widen(val.type, I8))
        if ptrs is None and lanes == 0:
            if isinstance(val.type, ir.VectorType):
                raise CodegenError(
                    f"store to {s.buffer.name}: every lane of vectorized loop "
                    f"{self.vec[0].name} writes the same element (a reduction cannot be "
                    "vectorized this way)"
                )
            self.b.store(val, ptr)
            return
        val = self._splat(val, lanes)
        if ptrs is None:
            self.b.store(
                val, self.b.bitcast(ptr, val.type.as_pointer()), align=elem_bytes(val.type.element)
            )
        else:
            for j, p in enumerate(ptrs):
                self.b.store(self.b.extract_element(val, ir.Constant(I32, j)), p)

    # ----- expressions ------------------------------------------------------------------
    def expr(self, e) -> ir.Value:
        if isinstance(e, Var):
            if e not in self.env:
                raise CodegenError(f"variable {e.name} is used outside its loop or let")
            return self.env[e]
        if isinstance(e, Const):
            ty = REG_TYPES[e.dtype]
            return ir.Constant(ty, float(e.value) if is_float(e.dtype) else int(e.value))
        if isinstance(e, BinOp):
            return self._binop(e)
        if isinstance(e, Cast):
            return self._cast(self.expr(e.value), e.value.dtype, e.dtype)
        if isinstance(e, Select):
            c, t, f = self._unify(
                self.expr(e.cond), self.expr(e.true_value), self.expr(e.false_value)
            )
            return self.b.select(c, t, f)
        if isinstance(e, Load):
            return self._load(e)
        if isinstance(e, Call):
            return self._call(e)
        hint = " (a Python bool: `==` on Vars compares identity; use BinOp('eq', a, b))"
        raise CodegenError(f"not a loop-IR expression: {e!r}{hint if isinstance(e, bool) else ''}")

    def _binop(self, e: BinOp) -> ir.Value:
        dt, op = e.a.dtype, e.op
        if op == "add" and is_float(dt):
            for m, other in ((e.a, e.b), (e.b, e.a)):
                if isinstance(m, BinOp) and m.op == "mul":
                    x, y, z = self._unify(self.expr(m.a), self.expr(m.b), self.expr(other))
                    return self._intrinsic("llvm.fmuladd", [x, y, z])
        a, b = self._unify(self.expr(e.a), self.expr(e.b))
        if is_float(dt):
            return self._float_binop(op, a, b)
        return self._int_binop(op, a, b, unsigned=dt in UNSIGNED)

    def _float_binop(self, op: str, a, b) -> ir.Value:
        B = self.b
        if op in ("add", "sub", "mul", "div"):
            return getattr(B, {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}[op])(
                a, b
            )
        if op == "min":
            return B.select(B.fcmp_ordered("<", a, b), a, b)
        if op == "max":
            return B.select(B.fcmp_ordered(">", a, b), a, b)
        if op in ("floordiv", "floormod"):
            q = self._intrinsic("llvm.floor", [B.fdiv(a, b)])
            return q if op == "floordiv" else B.fsub(a, B.fmul(q, b))
        cmp = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        if op == "ne":
            return B.fcmp_unordered("!=", a, b)
        if op in cmp:
            return B.fcmp_ordered(cmp[op], a, b)
        raise CodegenError(f"binary op {op} is not defined on floats")

    def _int_binop(self, op: str, a, b, unsigned: bool) -> ir.Value:
        B = self.b
        wide = scalar(a.type).width >= 32 and not unsigned
        nsw = ("nsw",) if wide else ()
        if op == "add":
            return B.add(a, b, flags=nsw)
        if op == "sub":
            return B.sub(a, b, flags=nsw)
        if op == "mul":
            return B.mul(a, b, flags=nsw)
        if op == "div":
            return B.udiv(a, b) if unsigned else B.sdiv(a, b)
        if op in ("floordiv", "floormod"):
            if unsigned:
                return B.udiv(a, b) if op == "floordiv" else B.urem(a, b)
            q, r = B.sdiv(a, b), B.srem(a, b)
            z = zero(a.type)
            # Truncation rounds toward zero; step down when the remainder's sign differs from b's.
            fix = B.and_(
                B.icmp_signed("!=", r, z),
                B.icmp_signed("!=", B.icmp_signed("<", r, z), B.icmp_signed("<", b, z)),
            )
            if op == "floordiv":
                return B.sub(q, B.zext(fix, a.type))
            return B.select(fix, B.add(r, b), r)
        if op in ("min", "max"):
            pred = "<" if op == "min" else ">"
            cmp = B.icmp_unsigned(pred, a, b) if unsigned else B.icmp_signed(pred, a, b)
            return B.select(cmp, a, b)
        if op == "shr":
            return B.lshr(a, b) if unsigned else B.ashr(a, b)
        if op == "shl":
            return B.shl(a, b)
        if op == "and":
            return B.and_(a, b)
        if op == "or":
            return B.or_(a, b)
        cmp = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        if op in cmp:
            return B.icmp_unsigned(cmp[op], a, b) if unsigned else B.icmp_signed(cmp[op], a, b)
        raise CodegenError(f"unknown binary op {op}")

    def _cast(self, v: ir.Value, src: str, dst: str) -> ir.Value:
        B = self.b
        if src == dst:
            return v
        dty = widen(v.type, REG_TYPES[dst])
        if dst == "bool":
            if is_float(src):
                return B.fcmp_unordered("!=", v, zero(v.type))
            return B.icmp_unsigned("!=", v, zero(v.type))
        if is_float(src) and is_float(dst):
            return B.fpext(v, dty) if dst == "float64" else B.fptrunc(v, dty)
        if is_float(dst):
            return B.uitofp(v, dty) if src in UNSIGNED else B.sitofp(v, dty)
        if is_float(src):
            return B.fptoui(v, dty) if dst in UNSIGNED else B.fptosi(v, dty)
        sw, dw = scalar(v.type).width, scalar(dty).width
        if dw < sw:
            return B.trunc(v, dty)
        if dw > sw:
            return B.zext(v, dty) if src in UNSIGNED else B.sext(v, dty)
        return v  # int8 <-> uint8: same bits

    def _call(self, e: Call) -> ir.Value:
        if e.name not in FLOAT_INTRINSICS:
            raise CodegenError(
                f"call {e.name}: no CPU lowering (known: {', '.join(sorted(FLOAT_INTRINSICS))})"
            )
        base, arity = FLOAT_INTRINSICS[e.name]
        if len(e.args) != arity or not all(is_float(a.dtype) for a in e.args):
            raise CodegenError(f"call {e.name}: takes {arity} float argument(s)")
        args = self._unify(*(self.expr(a) for a in e.args))
        ty = args[0].type
        inline = {"exp": exp_f32, "tanh": tanh_f32}.get(e.name)
        if inline and isinstance(ty, ir.VectorType) and isinstance(ty.element, ir.FloatType):
            return inline(self.b, args[0], lambda v: self._intrinsic("llvm.floor", [v]))
        return self._intrinsic(base, list(args))

    def _intrinsic(self, base: str, args: list[ir.Value]) -> ir.Value:
        ty = args[0].type
        name = f"{base}.{type_suffix(ty)}"
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * len(args)), name)
        return self.b.call(fn, args)

    # ----- vector helpers ---------------------------------------------------------------
    def _splat(self, v: ir.Value, lanes: int) -> ir.Value:
        if isinstance(v.type, ir.VectorType):
            return v
        vty = ir.VectorType(v.type, lanes)
        if isinstance(v, ir.Constant):
            return ir.Constant(vty, [v.constant] * lanes)
        one = self.b.insert_element(
            ir.Constant(ir.VectorType(v.type, 1), ir.Undefined), v, ir.Constant(I32, 0)
        )
        return self.b.shuffle_vector(
            one,
            ir.Constant(ir.VectorType(v.type, 1), ir.Undefined),
            ir.Constant(ir.VectorType(I32, lanes), [0] * lanes),
        )

    def _unify(self, *vals: ir.Value) -> tuple[ir.Value, ...]:
        lanes = [v.type.count for v in vals if isinstance(v.type, ir.VectorType)]
        if not lanes:
            return vals
        return tuple(self._splat(v, lanes[0]) for v in vals)

    def _to_i64(self, v: ir.Value) -> ir.Value:
        target = widen(v.type, I64)
        if scalar(v.type).width == 64:
            return v
        return self.b.sext(v, target)


def _lane_dependent_branch(body, var: Var) -> bool:
    """Whether an if-statement in `body` tests `var` (such a loop is unrolled, not vectorized)."""
    return any(isinstance(n, IfThenElse) and uses_var(n.cond, var) for n in walk(body))
