"""Child process of test_resume: tunes the tiny task with the fake measurer into a log."""

from __future__ import annotations

import sys

from compiler.tune.session import tune
from compiler.tune.space import VtaSpace
from compiler.tune.tuners import make_tuner
from tests.tune.fake import fake_job, tiny_task


def run(log: str, tuner: str, trials: int):
    task = tiny_task()
    return tune(
        task,
        make_tuner(tuner, VtaSpace(task), seed=5),
        n_trials=trials,
        log=log,
        batch_size=4,
        measure_fn=fake_job,
    )


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
