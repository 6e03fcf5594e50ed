"""Random valid accelerator programs, for cross-checking `hw_sim` against the RTL.

`random_program(cfg, seed)` builds a token-balanced, race-free program of random size:

* `vt` virtual threads (1 or 2), each owning a disjoint region of every SRAM (ping-pong);
* a sequence of phases; phase k uses thread k % vt and has a load part (LOADs of INP/WGT with
  random sizes, strides and padding, or a NOP), a compute part (a LOAD UOP of random micro-ops,
  maybe a padded LOAD ACC / ACC_8BIT, then GEMMs and ALU ops with random loop extents, factors,
  opcodes, immediates, reset flags) and a store part (STOREs with random strides, or a NOP);
* VTA's token protocol per phase: load pops g2l (buffer free) and pushes l2g (data ready);
  compute pops l2g and s2g and pushes g2l and g2s; store pops g2s and pushes s2g; `vt` initial
  g2l/s2g tokens; a drain (load NOPs, compute NOPs) so every instruction ends before FINISH;
* the instruction stream interleaves the modules' instructions randomly, subject only to every
  token's producer (including the initial-token NOPs) coming before its consumer in the stream:
  then the earliest unfinished instruction can always be dispatched and run, so neither fetch
  nor the modules can deadlock, whatever CMD_QUEUE_DEPTH is.

Every access stays inside its thread's region and every hazard between modules is covered by a
token, so any correct implementation of docs/timing-model.md gives the same DRAM; the random
interleaving and sizes exercise the fetch, queue, token and DMA timing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_sim.builder import ProgramBuilder, load_insn, nop_insn, store_insn
from hw_sim.config import HwConfig
from hw_sim.isa import AluInsn, AluOp, FinishInsn, GemmInsn, Insn, MemInsn, MemType, Module, Uop
from hw_sim.program import DramBuffer, Program

# Upper bounds that keep programs quick to simulate while covering every code path.
MAX_PHASES = 12
REGION_ROWS = {"inp": 24, "wgt": 20, "acc": 24, "uop": 24}
SRC_ELEMS = 48  # elements in each DRAM source buffer
OUT_ELEMS = 96


@dataclass
class _Part:
    """One module's instructions of one phase (the first pops, the last pushes)."""

    insns: list[Insn] = field(default_factory=list)


def _with_flags(insn: Insn, **flags: bool) -> Insn:
    from dataclasses import replace

    return replace(insn, **{k: getattr(insn, k) or v for k, v in flags.items()})


class _Gen:
    def __init__(self, cfg: HwConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        self.b = ProgramBuilder(cfg)
        self.vt = int(rng.integers(1, 3))
        vt = self.vt
        self.rows = {
            "inp": min(REGION_ROWS["inp"], cfg.inp_depth // vt),
            "wgt": min(REGION_ROWS["wgt"], cfg.wgt_depth // vt),
            "acc": min(REGION_ROWS["acc"], cfg.acc_depth // vt),
            "uop": min(REGION_ROWS["uop"], cfg.uop_depth // vt),
        }
        bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        r = rng
        self.src = {
            MemType.INP: self.b.buffer(
                "inp_src", data=r.integers(-128, 128, (SRC_ELEMS, bt, bi)).astype(np.int8)
            ),
            MemType.WGT: self.b.buffer(
                "wgt_src", data=r.integers(-128, 128, (SRC_ELEMS, bo, bi)).astype(np.int8)
            ),
            MemType.ACC: self.b.buffer(
                "acc_src",
                data=r.integers(-(1 << 31), 1 << 31, (SRC_ELEMS, bt, bo)).astype(np.int32),
            ),
            MemType.ACC_8BIT: self.b.buffer(
                "acc8_src", data=r.integers(-128, 128, (SRC_ELEMS, bt, bo)).astype(np.int8)
            ),
        }
        self.out = self.b.buffer("out", shape=(OUT_ELEMS, bt, bo), dtype=np.int8)
        self.n_kernels = 0

    def base(self, buf: str, t: int) -> int:
        return t * self.rows[buf]

    # ----- one 2-D DMA block inside a region --------------------------------------------------
    def _block(self, region: int, pads: bool) -> tuple[int, int, tuple[int, int, int, int]]:
        """Random (y, x, pad) whose padded block fits `region` rows."""
        r = self.rng
        while True:
            y = int(r.integers(0, 4)) if pads and r.random() < 0.1 else int(r.integers(1, 4))
            x = int(r.integers(1, 5))
            if r.random() < 0.15:  # one long row: several bursts at every config
                y, x = 1, int(r.integers(1, region + 1))
            pad = tuple(int(r.integers(0, 3)) if pads and r.random() < 0.4 else 0 for _ in range(4))
            if (pad[0] + y + pad[1]) * (pad[2] + x + pad[3]) <= region and (y or pad[0] or pad[1]):
                return y, x, pad  # type: ignore[return-value]

    def _dram_window(self, buf: DramBuffer, mt: MemType, y: int, x: int) -> tuple[int, int]:
        """(element index, stride) of y rows of x elements inside `buf`."""
        r = self.rng
        n = int(np.prod(buf.shape[:1]))
        stride = x + int(r.integers(0, 4)) if y > 1 else x
        while (max(y, 1) - 1) * stride + x > n:
            stride -= 1
        span = (max(y, 1) - 1) * stride + x
        off = int(r.integers(0, n - span + 1))
        return buf.elem(self.cfg, mt) + off, stride

    def load_block(self, mt: MemType, region_buf: str, t: int) -> MemInsn:
        region = self.rows[region_buf]
        y, x, pad = self._block(region, pads=True)
        used = (pad[0] + y + pad[1]) * (pad[2] + x + pad[3])
        sram = self.base(region_buf, t) + int(self.rng.integers(0, region - used + 1))
        base, stride = self._dram_window(self.src[mt], mt, y, x)
        return load_insn(mt, sram, base, y, x, stride, pad)

    # ----- phase parts ------------------------------------------------------------------------
    def load_part(self, t: int) -> _Part:
        p = _Part()
        for _ in range(int(self.rng.integers(0, 4))):
            if self.rng.random() < 0.5:
                p.insns.append(self.load_block(MemType.INP, "inp", t))
            else:
                p.insns.append(self.load_block(MemType.WGT, "wgt", t))
        if not p.insns or self.rng.random() < 0.1:
            p.insns.append(nop_insn(Module.LOAD))
        return p

    def _loop(self, bounds: dict[str, int]) -> tuple[dict, dict[str, int]]:
        """Loop extents and factors, and per-field bounds left for the micro-op indices."""
        r = self.rng
        io, ii = (
            int(r.integers(0, 4)) if r.random() < 0.05 else int(r.integers(1, 4)),
            int(r.integers(1, 4)),
        )
        fields, left = {"iter_out": io, "iter_in": ii}, {}
        for name, bound in bounds.items():
            fo, fi = int(r.integers(0, 4)), int(r.integers(0, 4))
            while max(io - 1, 0) * fo + (ii - 1) * fi >= bound:
                fo, fi = fo // 2, fi // 2
            fields[f"{name}_factor_out"], fields[f"{name}_factor_in"] = fo, fi
            left[name] = bound - (max(io - 1, 0) * fo + (ii - 1) * fi)
        return fields, left

    def compute_part(self, t: int) -> _Part:
        r, p = self.rng, _Part()
        uops: list[Uop] = []
        ops: list[Insn] = []
        ubase = self.base("uop", t)
        for _ in range(int(r.integers(1, 4))):
            gemm = r.random() < 0.55
            bounds = {"dst": self.rows["acc"], "src": self.rows["inp" if gemm else "acc"]}
            if gemm:
                bounds["wgt"] = self.rows["wgt"]
            loop, left = self._loop(bounds)
            k = int(r.integers(0, 4)) if r.random() < 0.05 else int(r.integers(1, 4))
            if len(uops) + k > self.rows["uop"]:
                k = 0
            bgn = ubase + len(uops)
            for _ in range(k):
                uops.append(
                    Uop(
                        dst=self.base("acc", t) + int(r.integers(0, left["dst"])),
                        src=self.base("inp" if gemm else "acc", t)
                        + int(r.integers(0, left["src"])),
                        wgt=self.base("wgt", t) + int(r.integers(0, left["wgt"])) if gemm else 0,
                    )
                )
            if gemm:
                ops.append(GemmInsn(reset=r.random() < 0.2, uop_bgn=bgn, uop_end=bgn + k, **loop))
            else:
                op = AluOp(int(r.integers(0, len(AluOp))))
                use_imm = r.random() < 0.5
                imm = (
                    int(r.integers(-40, 41)) if op == AluOp.SHR else int(r.integers(-32768, 32768))
                )
                loop = {k_: v for k_, v in loop.items() if not k_.startswith("wgt")}
                ops.append(
                    AluInsn(
                        alu_op=op,
                        use_imm=use_imm,
                        imm=imm if use_imm else 0,
                        uop_bgn=bgn,
                        uop_end=bgn + k,
                        **loop,
                    )  # fmt: skip
                )
        if uops:
            kernel = self.b.uop_kernel(uops, name=f"uops{self.n_kernels}")
            self.n_kernels += 1
            uop_base = kernel.elem(self.cfg, MemType.UOP)
            p.insns.append(load_insn(MemType.UOP, ubase, uop_base, 1, len(uops)))
        if r.random() < 0.5:
            mt = MemType.ACC if r.random() < 0.5 else MemType.ACC_8BIT
            p.insns.append(self.load_block(mt, "acc", t))
        p.insns.extend(ops)
        return p

    def store_part(self, t: int) -> _Part:
        r, p = self.rng, _Part()
        for _ in range(int(r.integers(0, 3))):
            y, x = int(r.integers(1, 4)), int(r.integers(1, 5))
            sram = self.base("acc", t) + int(r.integers(0, self.rows["acc"] - y * x + 1))
            base, stride = self._dram_window(self.out, MemType.OUT, y, x)
            p.insns.append(store_insn(sram, base, y, x, stride))
        if not p.insns or r.random() < 0.1:
            p.insns.append(nop_insn(Module.STORE))
        return p


def _nop(module: str, **flags: bool) -> Insn:
    return nop_insn(Module[module.upper()], **flags)


def random_program(cfg: HwConfig, seed: int) -> Program:
    """A random valid program for `cfg` (deterministic in `seed`)."""
    rng = np.random.default_rng(seed)
    g = _Gen(cfg, rng)
    vt, n_phases = g.vt, int(rng.integers(1, MAX_PHASES + 1))
    # Per module: a list of (instruction, producers) where producers are keys that must already
    # be in the stream: ("L"|"C"|"S", phase) = that part's last instruction.
    seq: dict[str, list[tuple[Insn, list[tuple[str, int]], tuple[str, int] | None]]] = {
        "load": [],
        "compute": [],
        "store": [],
    }
    # Initial "buffer free" tokens: tagged ("C"/"S", j - vt) like the phases they stand for.
    for j in range(vt):
        seq["compute"].append((_nop("compute", push_prev=True), [], ("C", j - vt)))
        seq["store"].append((_nop("store", push_prev=True), [], ("S", j - vt)))
    for k in range(n_phases):
        t = k % vt
        parts = {"load": g.load_part(t), "compute": g.compute_part(t), "store": g.store_part(t)}
        pops = {
            "load": ({"pop_next": True}, [("C", k - vt)]),
            "compute": ({"pop_prev": True, "pop_next": True},
                        [("L", k), ("S", k - vt)]),
            "store": ({"pop_prev": True}, [("C", k)]),
        }  # fmt: skip
        pushes = {
            "load": {"push_next": True},
            "compute": {"push_prev": True, "push_next": True},
            "store": {"push_prev": True},
        }
        tag = {"load": "L", "compute": "C", "store": "S"}
        for m, part in parts.items():
            insns = list(part.insns)
            insns[0] = _with_flags(insns[0], **pops[m][0])
            insns[-1] = _with_flags(insns[-1], **pushes[m])
            for i, insn in enumerate(insns):
                producers = pops[m][1] if i == 0 else []
                done = (tag[m], k) if i == len(insns) - 1 else None
                seq[m].append((insn, producers, done))
    # Drain: load NOPs take the last vt g2l tokens (the last one pushes l2g), compute NOPs take
    # that l2g and the last vt s2g tokens; then FINISH.
    for j in range(vt):
        last = j == vt - 1
        seq["load"].append(
            (
                _nop("load", pop_next=True, push_next=last),
                [("C", n_phases - vt + j)],
                ("LD", 0) if last else None,
            )  # fmt: skip
        )
    for j in range(vt):
        prods = [("S", n_phases - vt + j)]
        if j == 0:
            prods.append(("LD", 0))
        seq["compute"].append((_nop("compute", pop_next=True, pop_prev=j == 0), prods, None))
    # Random topological interleaving of the three module sequences.
    emitted: set[tuple[str, int]] = set()
    pos = dict.fromkeys(seq, 0)
    order: list[Insn] = []
    while True:
        ready = [
            m for m in seq if pos[m] < len(seq[m]) and all(p in emitted for p in seq[m][pos[m]][1])
        ]
        if not ready:
            break
        m = ready[int(rng.integers(0, len(ready)))]
        insn, _, done = seq[m][pos[m]]
        pos[m] += 1
        order.append(insn)
        if done is not None:
            emitted.add(done)
    assert all(pos[m] == len(seq[m]) for m in seq), "generator bug: unsatisfiable order"
    order.append(FinishInsn())
    for insn in order:
        g.b.emit(insn)
    return g.b.build({"random_seed": seed, "virtual_threads": vt, "phases": n_phases})
