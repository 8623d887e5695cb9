"""The type checker: mypy, configured in pyproject.toml ([tool.mypy]: strict on the layer and the
CLI, the pydantic plugin, the handlers checked too), must find nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = [ROOT / "layers" / "timkit" / "timkit", ROOT / "cli" / "timctl", ROOT / "functions"]
# mypy itself insists on the code (ignore-without-code); the reason is the house rule.
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
EXPLAINED = re.compile(r"\[[a-z-]+(,\s*[a-z-]+)*\]\s+#\s*\S")


@pytest.mark.infra
def test_mypy_finds_nothing(tmp_path: Path) -> None:
    # A fresh cache: a stale one from another checkout or mypy version must not hide a finding.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"mypy exited {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_every_ignore_in_checked_code_names_its_error_and_says_why() -> None:
    unexplained = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in CHECKED
        for path in sorted(folder.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := IGNORE.search(line)) and not EXPLAINED.match(match["rest"])
    ]
    assert unexplained == []
