"""Fixtures shared by the property tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch for module-scoped fixtures, which pytest's function-scoped one cannot serve."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
