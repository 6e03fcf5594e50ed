from tests.model.helpers import small_resnet
from compiler.graph.pipeline import compile_for_accel
from tests.model.helpers import samples
from hw_sim.config import load_config
g, m = small_resnet("default")
qg = compile_for_accel(g, load_config("default"), samples(g, 2)).graph
for n in qg.nodes:
    if n.op in ("vtac.requantize", "vtac.add"):
        vec = [qg.constants[i] for i in n.inputs[1:] if i in qg.constants]
        print(n.op, n.attrs.get("shift"), n.attrs.get("shift_a"), [ (int(v.min()), int(v.max())) for v in vec])
