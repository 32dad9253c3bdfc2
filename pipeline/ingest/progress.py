"""A one-line progress display for long batches: files done, files/s, time left (stderr only)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.quarantined = 0
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last = 0.0

    def advance(self, *, quarantined: bool = False) -> None:
        self.done += 1
        self.quarantined += int(quarantined)
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            rate = self.done / max(now - self.started, 1e-9)
            left = (self.total - self.done) / rate if rate else 0
            width = 30
            filled = int(width * self.done / self.total)
            bar = "█" * filled + "·" * (width - filled)
            self.stream.write(f"\r{bar} {self.done}/{self.total} 件 files  {rate:,.0f} 件/秒 files/s  "
                              f"隔離 quarantined {self.quarantined}  残り left {left:,.0f}s ")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
