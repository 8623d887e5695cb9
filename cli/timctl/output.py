"""Printing answers: raw JSON with --json, aligned columns for people otherwise."""

from __future__ import annotations

import json
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
