"""Progress of long jobs, visible wherever the output goes.

A bar only draws on a terminal; a run whose output is sent to a log (as long jobs are)
would otherwise say nothing for tens of minutes. Off a terminal, LineProgress prints a
plain line every few seconds with the count, the rate, the time left and what is being
measured. Both take the same two calls, so the replay loop does not care which it has.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LINE_EVERY_S = 5.0


class LineProgress:
    """rich.progress.Progress's add_task/update, as one line per interval on a console."""

    def __init__(self, console: Console, every: float = LINE_EVERY_S) -> None:
        self.console = console
        self.every = every
        self.tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            if task["done"] and task["done"] != task["printed"]:
                self._print(task)

    def add_task(self, description: str, total: float) -> int:
        now = time.monotonic()
        task_id = len(self.tasks)
        self.tasks[task_id] = {
            "name": description,
            "what": description,
            "total": total,
            "done": 0,
            "printed": 0,
            "started": now,
            "last": now,
        }
        return task_id

    def update(self, task_id: int, advance: float = 0, description: str | None = None) -> None:
        task = self.tasks[task_id]
        task["done"] += advance
        if description is not None:
            task["what"] = description
        now = time.monotonic()
        if now - task["last"] >= self.every or task["done"] >= task["total"]:
            task["last"] = now
            self._print(task)

    def _print(self, task: dict[str, Any]) -> None:
        done, total = task["done"], task["total"]
        elapsed = max(time.monotonic() - task["started"], 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else float("inf")
        self.console.print(
            f"{task['name']}: {done:,.0f}/{total:,.0f} ({100 * done / max(total, 1):.1f} %), "
            f"{rate:,.0f}/s, {_duration(elapsed)} elapsed, about {_duration(left)} left; "
            f"{task['what']}",
            markup=False,
            soft_wrap=True,
            highlight=False,
        )
        task["printed"] = done


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_for(console: Console, quiet: bool = False) -> Progress | LineProgress:
    """A bar on a terminal, lines elsewhere, nothing with quiet."""
    if console.is_terminal or quiet:
        return Progress(
            TextColumn("{task.description:<48.48}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
        )
    return LineProgress(console)
