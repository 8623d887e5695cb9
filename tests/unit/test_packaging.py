"""The layer ships the same runtime dependencies, at the same versions, as the dev install tests, and
they are enough where the Lambda image lacks something a developer's machine has."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

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
