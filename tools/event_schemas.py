"""Write the JSON schema of every event-bus detail-type to docs/events/<detail-type>.v<version>.json.

The schemas are the layer's models' (timkit.models.bus); run it after changing them, from the
repository root with the layer on the path (tests/unit/test_bus_models.py fails while the files
are stale):

    PYTHONPATH=layers/timkit python tools/event_schemas.py            # write, list what changed
    PYTHONPATH=layers/timkit python tools/event_schemas.py --check    # exit 1 if something would change
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from timkit.models.bus import detail_schema, detail_types, schema_file

OUT = Path(__file__).resolve().parent.parent / "docs" / "events"


def rendered() -> dict[Path, str]:
    """Every schema file as it should read."""
    return {
        OUT / schema_file(detail_type): json.dumps(detail_schema(detail_type), indent=2, ensure_ascii=False) + "\n"
        for detail_type in detail_types()
    }


def stale() -> list[Path]:
    """The schema files that are missing or differ, and those no detail-type has any more."""
    wanted = rendered()
    present = set(OUT.glob("*.json"))
    changed = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    return sorted(changed + [path for path in present if path not in wanted])


def main(argv: list[str]) -> int:
    outdated = stale()
    for path in outdated:
        print(path.relative_to(OUT.parent.parent))
    if "--check" in argv:
        return 1 if outdated else 0
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = rendered()
    for path in outdated:
        if path in wanted:
            path.write_text(wanted[path])
        else:
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
