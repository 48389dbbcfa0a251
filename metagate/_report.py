"""What the command line shows a tap operator: a progress bar and the closing summary."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from collectors import PacketBatch, PacketSource
from collectors._collect import CollectSummary

if TYPE_CHECKING:
    from rich.progress import TaskID

_PROGRESS_MIN_BYTES = 64 * 1024 * 1024  # smaller files finish before a bar is worth drawing


class ProgressReporter:
    """A bar per large capture file, on a terminal only (stderr), never in a pipe or a log."""

    def __init__(self, sources: list[str]) -> None:
        sizes = {s: Path(s).stat().st_size for s in sources if Path(s).is_file()}
        self._enabled = False
        self._progress: Any = None
        self._tasks: dict[str, TaskID] = {}
        # rich loads only for a bar that will be drawn: in a pipe or a log it costs start-up for nothing
        if not (sys.stderr.isatty() and any(size >= _PROGRESS_MIN_BYTES for size in sizes.values())):
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        console = Console(stderr=True)
        self._enabled = console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )

    def __enter__(self) -> ProgressReporter:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def update(self, source: PacketSource, batch: PacketBatch, summary: CollectSummary) -> None:
        if not self._enabled or len(batch) == 0:
            return
        task = self._tasks.get(batch.origin)
        if task is None:
            path = Path(batch.origin)
            total = path.stat().st_size if path.is_file() else None
            task = self._tasks[batch.origin] = self._progress.add_task(Path(batch.origin).name, total=total)
        self._progress.update(task, completed=int(batch.record_offset[-1]))


def print_summary(summary: CollectSummary) -> None:
    """The closing summary on stderr: counts, speed, problems by kind, damage by file and offset."""
    out = sys.stderr
    print(
        f"packets {summary.packets:,}  flows {summary.flows:,}  "
        f"{summary.packets_per_second:,.0f} packets/s  ({summary.seconds:.2f} s)",
        file=out,
    )
    if summary.flow_stats is not None:
        for line in summary.flow_stats.summary_lines():
            print(line, file=out)
    for line in summary.sink_lines:
        print(line, file=out)
    if summary.resumed_files:
        print(f"resumed after {summary.resumed_files} ring file(s) already read", file=out)
    if summary.stopped:
        print("stopped: live flows are kept in the state file for the next run", file=out)
    if summary.decode_problems:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(summary.decode_problems.items()))
        print(f"decode problems: {kinds}", file=out)
    for problem in summary.capture_problems:
        print(f"partly read: {problem}", file=out)
    for problem in summary.not_captures:
        print(f"not read: {problem}", file=out)
