"""The local stack's SAM transform runs in the tools venv (local/sam_translate.py), not in the app's,
whose pydantic is the layer's; its answers are cached by what they depend on."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
SMALL = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "functions/admin_api",
                "Handler": "app.handler",
                "Runtime": "python3.13",
                "MemorySize": 256,
                "Events": {"Get": {"Type": "HttpApi", "Properties": {"Path": "/x", "Method": "GET"}}},
            },
        },
        "Zeta": {"Type": "AWS::SQS::Queue"},
        "Alpha": {"Type": "AWS::SQS::Queue"},
    },
}


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tools venv's Python behind a wrapper that counts its runs; a cache of this test's own."""
    runs = tmp_path / "runs"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho run >> {runs}\nexec {tpl.tools_python()} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(tpl.TOOLS_PYTHON_ENV, str(wrapper))
    monkeypatch.setattr(tpl, "SAM_CACHE", tmp_path / "cache")
    return runs


def test_the_transform_is_the_tools_venvs_and_cached(counted: Path, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(SMALL))
    first = tpl.load(path)
    assert first.functions["Fn"].memory == 256
    assert [route.route_key for route in first.functions["Fn"].routes] == ["GET /x"]
    assert tpl.load(path).transformed == first.transformed
    # In the template's order, as the local stack creates them (a secret may refer to one before it).
    assert [lid for lid in first.transformed["Resources"] if lid in ("Zeta", "Alpha")] == ["Zeta", "Alpha"]
    assert counted.read_text().splitlines() == ["run"]  # the second load was the cache's

    changed = json.loads(json.dumps(SMALL))
    changed["Resources"]["Fn"]["Properties"]["MemorySize"] = 512
    path.write_text(json.dumps(changed))
    assert tpl.load(path).functions["Fn"].memory == 512
    assert counted.read_text().splitlines() == ["run", "run"]


def test_the_app_venv_does_not_import_the_translator() -> None:
    # samtranslator pins pydantic; the app's venv runs the layer's pydantic, and need not have it at all.
    script = (
        "import sys; from local import template; template.load(); "
        "print(sorted(m for m in sys.modules if 'samtranslator' in m))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_invalid_template_names_the_problem(counted: Path, tmp_path: Path) -> None:
    broken = json.loads(json.dumps(SMALL))
    broken["Resources"]["Fn"]["Properties"]["Events"]["Get"]["Properties"] = {"Path": 5, "Method": []}
    path = tmp_path / "template.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"the SAM transform failed \(.*sam_translate.py\):\n.*Fn") as info:
        tpl.load(path)
    assert "Traceback" not in str(info.value)
    assert not list((tmp_path / "cache").glob("*.json"))  # a failure is not cached


def test_without_the_tools_venv_the_error_says_make_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(tpl.TOOLS_PYTHON_ENV, raising=False)
    monkeypatch.setattr(tpl, "REPO_ROOT", tmp_path)  # no .tools here
    monkeypatch.setenv("PATH", os.defpath)  # nor `sam`
    with pytest.raises(RuntimeError, match=r"run `make tools` \(or set TIMKIT_TOOLS_PYTHON"):
        tpl.tools_python()


def test_make_run_and_the_tests_install_the_tools_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "test-fast"):
        prerequisites = re.search(rf"^{target}:(.*)$", makefile, re.M)
        assert prerequisites and "tools" in prerequisites.group(1).split(), target
