"""Printing answers: raw JSON with --json, aligned columns for people otherwise."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any


def print_json(answer: Any) -> None:
    print(json.dumps(answer, indent=2, ensure_ascii=False))


def print_rows(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> None:
    """Left-aligned columns; the last column is not padded."""
    table = [["" if cell is None else str(cell) for cell in row] for row in [*([header] if header else []), *rows]]
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(max(map(len, table), default=0))]
    for row in table:
        print("  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])), *row[-1:]]).rstrip())


def duration(seconds: float) -> str:
    """A time span for people, rounded up to the second: 45s, 3m05s, 2h03m."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
