"""Hypothesis strategies shared by the property tests: arbitrary JSON values, and documents
mutated the way a broken or hostile client would (a key dropped, a value replaced anywhere,
the text cut short)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def mutate(draw: st.DrawFn, doc: Any, rounds: int, cut_one_in: int) -> str:
    """``doc`` (changed in place) after ``rounds`` random edits, as JSON text that is cut short
    about once in ``cut_one_in`` draws."""
    for _ in range(rounds):
        # Walk to a random container inside the document and change one thing in it.
        node = doc
        while True:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
            if not containers or draw(st.booleans()):
                break
            node = draw(st.sampled_from(containers))[1]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and isinstance(node, dict):
            del node[key]
        else:
            node[key] = draw(json_values)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, cut_one_in - 1)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5))
    return text
