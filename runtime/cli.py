"""The `vtac` command line.

Each feature area registers its own subcommands: a module listed in `_COMMAND_MODULES`
exposes `register(subparsers)`, which adds parsers whose `func(args) -> int` runs the command.
Modules are imported lazily so that `vtac --help` stays fast and one broken area cannot take
the whole CLI down.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from runtime.cli_args import tag_subparsers

# Modules that register subcommands, in the order `vtac --help` lists them.
_COMMAND_MODULES: list[str] = [
    "runtime.cli_sim",  # disasm, sim, demo
    "runtime.cli_rtl",  # rtl run, crosscheck, build, lint, synth
    "runtime.cli_inspect",  # inspect
    "runtime.cli_model",  # compile, run, profile
    "runtime.cli_tune",  # tune
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vtac",
        description="Compile models for a VTA-style accelerator and simulate them cycle by cycle.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    tag_subparsers(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # with the usage of the subcommand given, not the top-level one
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped early (`vtac sim ... | head`): not an error.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
