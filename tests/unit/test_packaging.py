"""The layer ships the same runtime dependencies, at the same versions, as the dev install tests, and
they are enough where the Lambda image lacks something a developer's machine has; its bytecode is
for the runtime's Python and still valid once deployed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-dev.lock"
# Exact pins, but for data that must stay current: the IANA time zone database changes whenever a
# government changes its clocks (several times a year), and a release only adds and corrects rules.
# An exact pin would freeze the rules the layer ships; a floor lets each build take the newest, and
# the floor is the release the tests ran with.
FLOORED = frozenset({"tzdata"})


def _requirements(lines: list[str]) -> dict[str, str]:
    """Each requirement's name and version specifier."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return found


def _project() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": project["dependencies"], "dev": project["optional-dependencies"]["dev"]}


def test_layer_requirements_match_the_project_pins() -> None:
    project = _requirements(_project()["runtime"])
    layer = _requirements((ROOT / "layers/timkit/requirements.txt").read_text().splitlines())
    # boto3 is the only one the Lambda runtime provides.
    assert layer == {k: v for k, v in project.items() if k != "boto3"}


@pytest.mark.parametrize("kind", ["runtime", "dev"])
def test_dependencies_are_pinned_exactly_and_time_zone_data_has_a_floor(kind: str) -> None:
    for name, specifier in _requirements(_project()[kind]).items():
        if name in FLOORED:
            assert re.fullmatch(r">=[\w.]+", specifier), f"{name}{specifier}: a floor (>=), nothing else"
        else:
            assert re.fullmatch(r"==[\w.]+", specifier), f"{name}{specifier} is not pinned with =="


# ----------------------------------------------------------------------------- the lock


@dataclass
class Locked:
    versions: set[str] = field(default_factory=set)  # one a line; markers may split a package in two
    hashed: bool = True  # every line carries hashes
    via: set[str] = field(default_factory=set)  # who needs it, as the lock's annotations say


def _locked() -> dict[str, Locked]:
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line.rstrip(" \\"))
            current = locked.setdefault(canonicalize_name(requirement.name), Locked())
            current.versions.add(str(requirement.specifier).removeprefix("=="))
            current.hashed = current.hashed and line.endswith("\\")
            in_via = False
        elif current is not None and (via := re.fullmatch(r"\s+# via(?: (?P<one>.+))?", line)):
            in_via = via["one"] is None
            current.via.update([via["one"]] if via["one"] else [])
        elif current is not None and in_via and (parent := re.fullmatch(r"\s+#   (.+)", line)):
            current.via.add(parent[1])
        else:
            in_via = False
    return locked


def test_the_lock_agrees_with_pyproject() -> None:
    """requirements-dev.lock is what `make lock` compiles from pyproject.toml: compile it again after
    changing a dependency there (a failure here means they drifted)."""
    locked = _locked()
    wanted = {**_requirements(_project()["runtime"]), **_requirements(_project()["dev"])}
    for name, specifier in wanted.items():
        assert name in locked, f"{name} is in pyproject.toml but not in the lock: run `make lock`"
        for version in locked[name].versions:
            assert SpecifierSet(specifier).contains(version, prereleases=True), (
                f"the lock has {name}=={version}, pyproject.toml wants {name}{specifier}: run `make lock`"
            )
    top_level = {name for name, entry in locked.items() if "timkit (pyproject.toml)" in entry.via}
    assert top_level == set(wanted), "the lock's top-level packages are not pyproject.toml's: run `make lock`"
    for name, entry in locked.items():
        parents = {canonicalize_name(re.sub(r" \(.*\)$", "", via)) for via in entry.via}
        assert parents & ({"timkit"} | set(locked)), f"{name} is locked for packages no longer there: run `make lock`"


def test_every_locked_package_has_hashes() -> None:
    # pip installs in hash-checking mode (--require-hashes): one entry without hashes fails `make install`.
    assert [name for name, entry in _locked().items() if not entry.hashed] == []
    assert "--generate-hashes" in LOCK.read_text().splitlines()[1]


def test_renovate_recompiles_the_lock_as_make_lock_does() -> None:
    """Renovate reruns the command in the lock's header: it must be `make lock`'s, and the
    configuration must point Renovate's pip-compile manager at the lock."""
    header = LOCK.read_text().splitlines()[1].removeprefix("#").split()
    recipe = re.search(
        r"^lock:.*\n\t\$\(TOOLS\)/bin/(.+?)(?<!\\)\n", (ROOT / "Makefile").read_text().replace("\\\n\t\t", ""), re.M
    )
    assert recipe, "the Makefile has no lock target"
    command = recipe.group(1).replace("$(LOCK)", LOCK.name).split()
    assert header == [word for word in command if word != "--quiet"]
    config = json.loads((ROOT / "renovate.json").read_text())
    patterns = [pattern.strip("/") for pattern in config["pip-compile"]["managerFilePatterns"]]
    assert any(re.search(pattern, LOCK.name) for pattern in patterns)
    assert config["lockFileMaintenance"]["enabled"] is True


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
