"""Run a compiled kernel and require it to be portable across VTA's implementations."""

from __future__ import annotations

from hw_sim.portability import check_portable
from runtime.device import get_device


def run_portable(kern, **inputs):
    """`kern.run` on hw_sim (Chisel semantics, as the RTL), then `check_portable` on the same
    input image: identical final DRAM under chisel, hls, fsim and VTA fsim's scheduling order,
    and every portability rule holding. Returns what `kern.run` returns."""
    dev = get_device("hw_sim", kern.program.cfg)
    dev.load(kern.program)
    for name, a in kern.pack_inputs(**inputs).items():
        dev.write(name, a)
    report = check_portable(kern.program, dram=dev.dram)
    assert report.portable, f"{kern.op.name} with {kern.knobs}:\n{report.summary()}"
    return kern.run(dev, **inputs)
