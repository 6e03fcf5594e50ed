"""Schedules: loop transformations and placement of tensor-expression stages (docs/te.md)."""

from compiler.schedule.schedule import (  # noqa: F401
    Fuse,
    Schedule,
    ScheduleError,
    Split,
    Stage,
    create_schedule,
)
