"""vtac hardware model: config, ISA, and the cycle-level simulator."""
