"""The tuner's view of CPU schedules: tasks list valid knobs and measure them (a positive time;
no speed is asserted)."""

from __future__ import annotations

from compiler.cpu.conv2d import Conv2dShape
from compiler.cpu.measure import conv2d_task, dense_task


def test_conv2d_task_measures_default_and_other_points():
    task = conv2d_task(Conv2dShape(1, 16, 6, 6, 16, 3, 3, (1, 1), (1, 1)), repeat=1)
    assert task.default in task.space and task.flops == 2 * 16 * 36 * 16 * 9
    for knobs in (task.default, task.space[0], task.space[-1]):
        assert task.measure(knobs) > 0


def test_dense_task():
    task = dense_task(7, 32, 24, repeat=1)
    assert task.default in task.space
    assert task.measure(task.space[0]) > 0
