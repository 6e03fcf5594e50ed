"""Auto-tuning: tasks and spaces, measurement, tuners, the XGBoost cost model, records, transfer.

See docs/tune.md. The API the compile driver uses: `task.task_key_from_op(op, cfg)` and
`records.best_knobs(log, key)`; `kinds.py` says what differs per operator kind (GEMM ops, max
pool / upsample, element-wise).
"""
