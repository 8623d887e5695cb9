"""The layer ships the same runtime dependencies, at the same versions, as the dev install tests."""

from __future__ import annotations

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
