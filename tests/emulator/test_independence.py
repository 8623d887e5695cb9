"""The emulator is a referee: it must not import the code it checks (``timkit``), or a mistake
both share would pass every test."""

from __future__ import annotations

import ast
from pathlib import Path

import local.tim_emulator

PACKAGE = Path(local.tim_emulator.__file__).parent


def _imported_modules(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif (  # importlib.import_module("timkit...") / __import__("timkit...")
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
        ):
            names.append(node.args[0].value)
    return names


def test_no_emulator_module_imports_timkit() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10  # the whole package was found
    offenders = {
        str(path.relative_to(PACKAGE)): name
        for path in files
        for name in _imported_modules(path.read_text())
        if name == "timkit" or name.startswith("timkit.")
    }
    assert offenders == {}


def test_the_check_sees_every_form_of_import() -> None:
    source = "import timkit\nfrom timkit.models import x\nimport importlib\nimportlib.import_module('timkit.tim')\n"
    assert [n for n in _imported_modules(source) if n.startswith("timkit")] == ["timkit", "timkit.models", "timkit.tim"]
