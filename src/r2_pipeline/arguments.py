"""Argparse types of the project's commands and studies: a bad value is refused by the parser,
naming the option, before any work starts. Light: no model library is imported."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """An argparse `type`: a whole number of at least 1 (questions, samples)."""
    return _whole(text, 1)


def whole(text: str) -> int:
    """An argparse `type`: a whole number of at least 0."""
    return _whole(text, 0)


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value}: must be at least {least}")
    return value


def confidence(text: str) -> float:
    """An argparse `type`: a confidence level in (0, 1); 95 for 95% is refused, not read as 9500%."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value:g}: write a level in (0, 1), e.g. 0.95 for 95%")
    return value


def numbers(text: str, name: str, each: str, ok, write: str = "numbers") -> list[float]:
    """`0.2,0.5` -> [0.2, 0.5] for an argparse `type`: every number must pass `ok`, else the
    parser refuses with `{name} {text!r}: {each}`."""
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} {text!r}: write {write}, comma-separated") from None
    if not all(ok(v) for v in values):
        raise argparse.ArgumentTypeError(f"{name} {text!r}: {each}")
    return values
