"""`make bench`: run every bench/bench_*.py in its own process and print all figures as one
JSON object on the last line (each benchmark prints its own object on its last line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    figures: dict[str, object] = {}
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"== {script.name}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            print(f"{script.name} failed with exit code {done.returncode}", file=sys.stderr)
            return 1
        figures.update(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
