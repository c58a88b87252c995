"""Progress on long work, in a terminal (a live bar) and in a log (a line every 10%)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress

LOG_STEP = 0.1  # a log line per tenth of the work


@contextmanager
def counted(console: Console, label: str, total: int) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``, to call once per item done (from any thread)."""
    if console.is_terminal:
        with Progress(console=console, transient=False) as bar:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
        return
    lock, done, started = threading.Lock(), [0], time.monotonic()
    every = max(1, int(total * LOG_STEP))

    def advance() -> None:
        with lock:
            done[0] += 1
            if done[0] % every == 0 or done[0] == total:
                console.print(f"  {label}: {done[0]}/{total} ({time.monotonic() - started:.0f}s)")

    yield advance
