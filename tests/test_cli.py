"""The CLI's boundary (`friendly`): our errors and the machine's become one line and
an exit code, also from inside the exception groups asyncio's task groups raise;
anything else is a bug and keeps its traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from storyboard.cli import EXIT_PROBLEMS, EXIT_USAGE, friendly
from storyboard.errors import BudgetExceeded, EnvironmentProblem


@friendly
def raising(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (EnvironmentProblem("no ffmpeg"), EXIT_USAGE, "storyboard: no ffmpeg"),
        (ExceptionGroup("tasks", [EnvironmentProblem("no ffmpeg")]), EXIT_USAGE, "no ffmpeg"),
        (
            ExceptionGroup("outer", [ExceptionGroup("inner", [BudgetExceeded("over $1")])]),
            EXIT_PROBLEMS,
            "storyboard: over $1",
        ),
        (ExceptionGroup("io", [PermissionError(13, "Permission denied", "/b")]), EXIT_USAGE, "/b"),
        (BaseExceptionGroup("stop", [KeyboardInterrupt()]), 130, "storyboard: interrupted"),
    ],
)
def test_errors_become_one_line_and_an_exit_code(
    exc: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        raising(exc)
    assert caught.value.code == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("storyboard:") and line in err


def test_a_bug_inside_a_group_keeps_its_traceback() -> None:
    bug = ExceptionGroup("tasks", [ZeroDivisionError("a bug")])
    with pytest.raises(ExceptionGroup) as caught:
        raising(bug)
    assert caught.value is bug


def test_a_reader_that_leaves_is_no_error(tmp_path: object) -> None:
    """`storyboard explain --list | head`: once the reader has closed the pipe, the
    command stops quietly with SIGPIPE's code, not "storyboard: cannot use: Broken
    pipe" (nor Python's complaint about flushing stdout)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "storyboard", "explain", "--list"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert result.returncode == 128 + signal.SIGPIPE, result.stderr
    assert result.stderr == ""
