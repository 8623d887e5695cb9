"""`python -m local` stops on Ctrl-C whichever of its threads the kernel hands the signal to."""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# tgkill(2): a signal to one thread of a process.
TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@pytest.mark.skipif(not sys.platform.startswith("linux") or TGKILL is None, reason="tgkill and /proc are Linux's")
def test_a_sigint_taken_by_another_thread_stops_the_stack(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    ports = [arg for name in ("api", "aws", "tim", "model", "ws") for arg in (f"--{name}-port", "0")]
    with (tmp_path / "stack.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", *ports, "--state-file", str(state)], cwd=ROOT, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "stack.log").read_text()
            time.sleep(0.1)
        other = next(int(tid) for tid in os.listdir(f"/proc/{process.pid}/task") if int(tid) != process.pid)
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(TGKILL, process.pid, other, signal.SIGINT) == 0
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
