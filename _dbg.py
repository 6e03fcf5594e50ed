import numpy as np
from tests.graph.test_per_channel_quant import _mixed_conv
from compiler.graph.quant.calibrate import calibrate
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.quant.report import quantization_error
rng=np.random.default_rng(0)
for group in (1,2):
    g=_mixed_conv(rng,group)
    samples = [{"x": np.abs(rng.standard_normal((1, 16, 8, 8))).astype(np.float32)} for _ in range(6)]
    r=calibrate(g,samples[:4])
    print([quantization_error(g, quantize_int8(g,r,per_channel=pc)[0], samples[4:])[0].rel_l2 for pc in (False,True)])
