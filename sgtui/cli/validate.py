"""argparse `type=` checkers every command shares, so a bad option is refused while the
command line is read: before any file is opened, any clip is cut or any output is begun.

Each returns the parsed value or raises argparse.ArgumentTypeError; `sgtui.cli.Parser`
turns that into one line ("argument --batch: ...") and exit 2. Bounds are named in the
message, so the user learns what is allowed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from sgtui.errors import SgtuiError

# Bounds for options whose value sizes the work or the output (why each is where it is):
MAX_PAD_MS = 5_000        # context around a line in a voice dataset; more is another line's speech
MAX_SAMPLE_LINES = 2_000  # a synthetic episode; a real one has 200-600 lines
MAX_SAMPLE_EPISODES = 100
MAX_FRAME = (3840, 2160)  # 4K; larger frames only cost memory
MIN_FRAME = (160, 120)
RATE_RANGE = (8_000, 192_000)  # sample rates audio tools write


def _number(text: str, kind: type, what: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}: give a finite number "
                                         "(leave the option out for no limit)")
    return value


def _range_words(lo: float | None, hi: float | None, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"from {lo:g} to {hi:g}{u}"
    if lo is not None:
        return f"at least {lo:g}{u}"
    return f"at most {hi:g}{u}"


def int_in(lo: int | None = None, hi: int | None = None, unit: str = "") -> Callable[[str], int]:
    """A whole number in [lo, hi] (either bound may be open)."""

    def check(text: str) -> int:
        value = _number(text, int, "a whole number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(
                f"must be a whole number {_range_words(lo, hi, unit)}, not {text}")
        return int(value)

    check.__name__ = "whole number"
    return check


def float_in(lo: float | None = None, hi: float | None = None, unit: str = "") -> Callable[[str], float]:
    """A finite number in [lo, hi]: NaN would silently turn a filter off."""

    def check(text: str) -> float:
        value = _number(text, float, "a number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be a number {_range_words(lo, hi, unit)}, not {text}")
        return float(value)

    check.__name__ = "number"
    return check


positive_int = int_in(1)
count = int_in(0)  # an index counted from 0 (a track)


def frame_size(text: str) -> tuple[int, int]:
    """WxH within MIN_FRAME..MAX_FRAME, both divisible by 4 (the video encoder's blocks)."""
    w_s, sep, h_s = text.lower().partition("x")
    if not (sep and w_s.isdigit() and h_s.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 640x360")
    w, h = int(w_s), int(h_s)
    (min_w, min_h), (max_w, max_h) = MIN_FRAME, MAX_FRAME
    if not (min_w <= w <= max_w and min_h <= h <= max_h) or w % 4 or h % 4:
        raise argparse.ArgumentTypeError(
            f"{text} must be from {min_w}x{min_h} to {max_w}x{max_h}, width and height "
            "divisible by 4, e.g. 640x360")
    return w, h


def encoder(modality: str) -> Callable[[str], str]:
    """An encoder spec NAME[:ARG] of this modality, or 'none' (checked against the registry,
    sgtui.features.registry.parse_spec, which knows every encoder)."""

    def check(text: str) -> str:
        if text.strip().lower() == "none":
            return "none"
        from sgtui.features.registry import parse_spec

        try:
            info, _ = parse_spec(text)
        except SgtuiError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if info.modality != modality:
            article = "an" if info.modality[0] in "aeiou" else "a"
            raise argparse.ArgumentTypeError(f"{info.name} is {article} {info.modality} encoder, "
                                             f"not a {modality} one")
        return text.strip()

    check.__name__ = f"{modality} encoder"
    return check
