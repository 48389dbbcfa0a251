"""The metagate executable ends at once after its command, and loses nothing by it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_CHILD = textwrap.dedent(
    """
    import atexit, sys, threading, time
    from pathlib import Path
    from metagate._quick_exit import run_then_exit

    mode, marker = sys.argv[1], Path(sys.argv[2])

    def command():
        atexit.register(lambda: marker.write_text(marker.read_text() + "atexit;") if marker.exists()
                        else marker.write_text("atexit;"))
        sys.stdout.write("buffered output without a newline")
        if mode == "thread":
            def late():
                time.sleep(0.3)
                marker.write_text("thread;")
            threading.Thread(target=late).start()
        if mode == "message":
            raise SystemExit("stopped: a message")
        if mode == "status":
            raise SystemExit(3)

    run_then_exit(command)
    """
)


def _run(mode: str, marker: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CHILD, mode, str(marker)], capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": ""})


@pytest.mark.parametrize(("mode", "status"), [("ok", 0), ("status", 3)])
def test_status_output_and_exit_handlers_survive_the_quick_exit(tmp_path: Path, mode: str, status: int) -> None:
    marker = tmp_path / "marker"
    done = _run(mode, marker)
    assert done.returncode == status, done.stderr
    assert done.stdout == "buffered output without a newline"
    assert marker.read_text() == "atexit;"


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    done = _run("thread", marker)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "thread;atexit;"


def test_a_message_status_is_printed_as_usual(tmp_path: Path) -> None:
    done = _run("message", tmp_path / "marker")
    assert done.returncode == 1
    assert done.stderr.strip() == "stopped: a message"
