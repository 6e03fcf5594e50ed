"""Argument types and checks shared by the `vtac` subcommands.

argparse calls the types while parsing, so a bad value is refused as a usage error of the
subcommand that takes it, naming the rule (`--n: must be a positive integer, got 0`). Paths are
checked the same way: an input must be an existing regular file, an output must not be a
directory and its folder must exist, so `vtac sim .` or `--save /nonexistent/x` are one line.
"""

from __future__ import annotations

import argparse
import math
import os
import sys


def _int_at_least(low: int, rule: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")  # an integer >= 1
nonnegative_int = _int_at_least(0, "an integer >= 0")


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def input_file(text: str) -> str:
    """An existing, readable regular file."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text} is not a regular file")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: permission denied")
    return text


def output_file(text: str) -> str:
    """A path a file can be written to: not a directory, in an existing, writable folder."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(text) and not os.access(text, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text}: permission denied")
    return text


def write_error(path: str, err: OSError) -> int:
    """Print one line for a failed write of `path`; returns the exit status 1."""
    print(f"error: cannot write {path}: {err.strerror or err}", file=sys.stderr)
    return 1


def _parsers(parser: argparse.ArgumentParser):
    """`parser` and every subcommand parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def tag_subparsers(parser: argparse.ArgumentParser) -> None:
    """Record in each subcommand's namespace which parser it was, so an unknown option can be
    reported with that subcommand's usage (argparse reports it with the top-level one)."""
    for p in _parsers(parser):
        p.set_defaults(_parser=p)
