"""The whole-model compile driver: lower fused groups, compile them per device, link one
DRAM layout (`compile_model`)."""
