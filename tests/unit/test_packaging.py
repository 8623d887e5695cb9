"""The layer ships the same runtime dependencies, at the same versions, as the dev install tests, and
they are enough where the Lambda image lacks something a developer's machine has; its bytecode is
for the runtime's Python and still valid once deployed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_layer_requirements_match_the_project_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = (ROOT / "layers/timkit/requirements.txt").read_text().splitlines()
    project_pins, layer_pins = _pins(project), _pins(layer)
    # boto3 is the only one the Lambda runtime provides.
    assert layer_pins == {k: v for k, v in project_pins.items() if k != "boto3"}


def test_time_zones_work_without_a_system_time_zone_database() -> None:
    # An empty PYTHONTZPATH hides /usr/share/zoneinfo, as an image without tzdata files would.
    script = """
from zoneinfo import TZPATH
from timkit.models.admin import Schedule
from datetime import datetime, timezone
from timkit.schedule import parse_expression
assert TZPATH == (), TZPATH
schedule = Schedule.model_validate({"cron": "cron(0 10 * * ? *)", "timezone": "Asia/Shanghai"})
after = datetime(2030, 1, 1, tzinfo=timezone.utc)
print(parse_expression(schedule.expression()).next_after(after, schedule.timezone).isoformat())
"""
    env = {**os.environ, "PYTHONTZPATH": "", "PYTHONPATH": str(ROOT / "layers/timkit")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    # 10:00 in Shanghai is 02:00 UTC.
    assert done.stdout.strip() == "2030-01-01T02:00:00+00:00"


def _compile_bytecode(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """layers/timkit/bytecode.mk's compile step, as the layer's Makefile calls it, on a small tree."""
    (tmp_path / "python" / "pkg").mkdir(parents=True)
    (tmp_path / "python" / "pkg" / "mod.py").write_text("def where():\n    raise RuntimeError\n")
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        f"include {ROOT}/layers/timkit/bytecode.mk\nbuild:\n\t$(call compile_bytecode,{tmp_path}/python,/opt/python)\n"
    )
    return subprocess.run(
        ["make", "-s", "-f", str(makefile), "build"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_build_without_python313_succeeds_with_a_warning_and_no_bytecode(tmp_path: Path) -> None:
    # RUNTIME_PYTHON= is what a machine without any Python 3.13 gets.
    done = _compile_bytecode(tmp_path, RUNTIME_PYTHON="")
    assert done.returncode == 0, done.stderr
    # On stdout: `sam build` shows make's stdout, and its stderr only on failure.
    assert "WARNING: no Python 3.13 found" in done.stdout
    assert list(tmp_path.rglob("*.pyc")) == []


def test_bytecode_is_unchecked_hash_and_names_the_path_in_lambda(tmp_path: Path) -> None:
    runtime_python = subprocess.run(
        ["make", "-s", "-f", str(ROOT / "layers/timkit/Makefile"), "runtime-python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not runtime_python:
        pytest.skip("no Python 3.13 here (RUNTIME_PYTHON): the build ships no bytecode")
    done = _compile_bytecode(tmp_path)
    assert done.returncode == 0, done.stderr
    pyc = tmp_path / "python/pkg/__pycache__/mod.cpython-313.pyc"
    # PEP 552 flags, bytes 4-8: bit 0 hash-based, bit 1 check the source (off: the layer never changes).
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01
    # Tracebacks name the file where Lambda has it, and the artifact does not depend on the build folder.
    script = "import marshal, sys; print(marshal.loads(open(sys.argv[1], 'rb').read()[16:]).co_filename)"
    recorded = subprocess.run(
        [runtime_python, "-c", script, str(pyc)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert recorded == "/opt/python/pkg/mod.py"
