"""Before-send cold start on what is deployed: the callback function and the layer as `sam build`
makes them, read-only, run by the Lambda runtime's Python.

``bench_before_send``'s ``cold_start_ms`` imports from the source tree with the development venv,
whose bytecode caches are written on the first run and reused after; in Lambda, /opt and /var/task
are read-only, so only the bytecode shipped in the artifact counts. Here each fresh process runs
the interpreter the build compiles with (bytecode.mk's RUNTIME_PYTHON) in isolated mode, without
site-packages (Lambda's runtime brings no packages the callback needs: it does not import boto3)
and without writing bytecode (-B; as root, the read-only modes alone would not stop it). Without a
Python 3.13 the layer's cp313 binary wheels cannot be imported at all, so the figure is null.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_before_send import ROOT, callback_setup, cold_starts

FUNCTION = "TimCallbackFunction"


def runtime_python() -> str | None:
    """The interpreter `sam build` compiles the bytecode with, as the layer's Makefile finds it."""
    found = subprocess.run(
        ["make", "-s", "-f", str(ROOT / "layers" / "timkit" / "Makefile"), "runtime-python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return found or None


def sam_build(build_dir: Path) -> None:
    """`sam build` of the callback function, which builds its layer too."""
    tools = ROOT / ".tools" / "bin"
    if not (tools / "sam").exists():
        sys.exit(f"{tools / 'sam'} is missing: run `make tools`")
    env = os.environ | {
        "SAM_CLI_TELEMETRY": "0",
        # The layer's Makefile runs `python3 -m pip`; the tools venv always has pip.
        "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = subprocess.run(
        [str(tools / "sam"), "build", FUNCTION, "--template-file", "template.yaml", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"sam build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    sys.stderr.write("".join(line + "\n" for line in done.stderr.splitlines() if "WARNING" in line))


def main() -> None:
    python = runtime_python()
    if python is None:
        print("no Python 3.13 found (set RUNTIME_PYTHON): cold_start_built_ms not measured", file=sys.stderr)
        print(json.dumps({"cold_start_built_ms": None, "cold_start_built_python": None}))
        return
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    ).stdout.strip()

    build_dir = Path(tempfile.mkdtemp()) / "build"
    try:
        sam_build(build_dir)
        subprocess.run(["chmod", "-R", "a-w", str(build_dir)], check=True)
        before = set(build_dir.rglob("*"))
        with callback_setup() as (env, body):
            cold_ms, _ = cold_starts(
                [python, "-I", "-S", "-B"], build_dir / "TimkitLayer" / "python", build_dir / FUNCTION, env, body
            )
        # The artifact was used as Lambda would find it: nothing (a bytecode cache) was written to it.
        written = set(build_dir.rglob("*")) - before
        assert not written, sorted(map(str, written))[:10]
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(build_dir.parent)], check=True)
        shutil.rmtree(build_dir.parent)

    print(
        json.dumps(
            {
                "cold_start_built_ms": round(statistics.median(cold_ms), 1),
                "cold_start_built_python": version,
            }
        )
    )


if __name__ == "__main__":
    main()
