"""Several relocated accelerator programs as one instruction stream (no host round trip).

Between two programs A and B the stream gets a barrier made of tokens, not a FINISH:

    A ... (A's drain: a compute NOP that waits for A's last store)
    compute NOP  push_prev     -> "A is done" to the load module
    load NOP     pop_next      <- B's loads (B's input is A's output in DRAM) wait for it
    B ...

A's drain already orders every compute and store of A before the compute NOP, so B's loads
(which may read what A stored) start after A's last store, and B's compute follows A's in the
in-order compute queue. What the merge saves is each launch's host overhead and the fetch and
pipeline start of a fresh stream; B's weight loads do not yet overlap A's tail (that needs a
DRAM-level dependence analysis across kernels). The merged stream stays token-balanced.
"""

from __future__ import annotations

import numpy as np

from hw_sim.builder import nop_insn
from hw_sim.config import HwConfig
from hw_sim.isa import FinishInsn, Module
from hw_sim.program import DramBuffer, Program


def merge_programs(programs: list[Program], cfg: HwConfig) -> Program:
    """One program running `programs` in order (each relocated into the same DRAM)."""
    insns: list = []
    buffers: dict[str, DramBuffer] = {}
    for k, prog in enumerate(programs):
        body = list(prog.insns)
        if not body or not isinstance(body[-1], FinishInsn):
            raise ValueError(f"program {k} of the merge does not end with FINISH")
        if k:
            insns.append(nop_insn(Module.COMPUTE, push_prev=True))
            insns.append(nop_insn(Module.LOAD, pop_next=True))
        insns.extend(body[:-1])
        tag = prog.meta.get("op", f"p{k}")
        for b in prog.buffers.values():
            buffers[f"{tag}/{b.name}"] = b
    insns.append(programs[-1].insns[-1])
    meta = {"op": "+".join(p.meta.get("op", "?") for p in programs), "merged": len(programs)}
    return Program(cfg, insns, np.zeros(0, np.uint8), buffers, meta)
