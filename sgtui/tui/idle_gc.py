"""Collect Python's garbage while the annotator pauses, never in the middle of a key.

Measured with bench/tui.py and `gc.callbacks`: the p95 of the heavier keys (move, merge,
rename, accept) was the cyclic garbage collector. Each prompt, toast and footer redraw
leaves dead widgets behind (parent ↔ child cycles only a full pass frees), and the full
pass the interpreter starts by itself walked every live object too (modules, the lines,
Textual's caches): 100-330 ms landing on whichever key happened to trigger it.

So, once the first screen is up, what exists then is frozen (`gc.freeze`: never walked
again; it lives as long as the app), automatic full passes are turned off, and a timer
runs a full pass (now a walk of recent objects only: a few ms) when no key came for a
moment, or at the latest every `MAX_WAIT` seconds while keys keep coming. The young
generations still collect by themselves as before. Everything is put back on unmount.
"""

from __future__ import annotations

import gc
import time

IDLE_AFTER = 0.1  # seconds without a key before a pass may run (a typing gap is enough)
MAX_WAIT = 2.0  # seconds; a pass runs then even while keys keep coming (bounds its size)
TICK = 0.1  # how often the app checks
NO_AUTO_FULL = 1_000_000_000  # gen-1 passes before Python would start a full pass itself


class IdleCollector:
    """Owns the interpreter's GC settings while the app runs; restores them on `stop`."""

    def __init__(self) -> None:
        self._saved: tuple[int, ...] | None = None
        self.last_key = time.monotonic()
        self.last_pass = time.monotonic()
        self.passes = 0

    def start(self) -> None:
        """Freeze what the first screen left alive and take over full passes."""
        if self._saved is not None:
            return
        self._saved = gc.get_threshold()
        gc.collect()  # what is frozen should be alive, not garbage kept forever
        gc.freeze()
        t0, t1, _ = self._saved
        gc.set_threshold(t0, t1, NO_AUTO_FULL)
        self.last_pass = time.monotonic()

    def key(self) -> None:
        self.last_key = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last key (the app's other idle work, the checkpoint, asks)."""
        return time.monotonic() - self.last_key

    def tick(self) -> bool:
        """Run a full pass when the user pauses (or waited long); True when one ran."""
        if self._saved is None:
            return False
        now = time.monotonic()
        if now - self.last_key < IDLE_AFTER and now - self.last_pass < MAX_WAIT:
            return False
        if gc.get_count()[2] == 0 and now - self.last_pass < MAX_WAIT:
            return False  # no young pass since the last full one: nothing new to walk
        gc.collect()
        self.last_pass = time.monotonic()
        self.passes += 1
        return True

    def stop(self) -> None:
        """Give the interpreter its own settings back (tests run many apps in one process)."""
        if self._saved is None:
            return
        gc.unfreeze()
        gc.set_threshold(*self._saved)
        self._saved = None
