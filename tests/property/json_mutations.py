"""Hypothesis strategies shared by the property tests: arbitrary JSON values, and documents
mutated the way a broken or hostile client would: a key dropped or added, a value replaced
anywhere, a value turned into another type (an array for a string, an object for a number, a
string for a number...), an item repeated, the text cut short."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def retyped(draw: st.DrawFn, value: Any) -> Any:
    """``value`` as a JSON value of another type, keeping what it held where it can."""
    options: list[Any] = [[value], {"": value}, [], {}, None, True, 0, -1, 2**64, 1.5, "", json.dumps(value)[:40]]
    if isinstance(value, dict):
        options += [list(value.values()), list(value)]
    if isinstance(value, list):
        options += [{str(i): item for i, item in enumerate(value)}, value[0] if value else None]
    if isinstance(value, str) and value.lstrip("-").isdigit():
        options.append(int(value))
    if isinstance(value, bool | int | float):
        options.append(str(value))
    # bool is an int to isinstance, not to JSON: compare the exact types.
    return draw(st.sampled_from([o for o in options if type(o) is not type(value)]))


def mutate(draw: st.DrawFn, doc: Any, rounds: int, cut_one_in: int) -> str:
    """A copy of ``doc`` after ``rounds`` random edits, as JSON text that is cut short about once
    in ``cut_one_in`` draws. A copy: strategies may hand out the same objects to several test
    cases, and hypothesis needs each case drawn alike from alike state."""
    doc = copy.deepcopy(doc)
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
        edit = draw(st.sampled_from(["delete", "replace", "retype", "retype", "add", "repeat"]))
        if edit == "delete" and isinstance(node, dict):
            del node[key]
        elif edit == "retype":
            node[key] = retyped(draw, node[key])
        elif edit == "add" and isinstance(node, dict):
            node[draw(st.sampled_from(["extra", "MsgType", "MsgBody", "EventTime", "Text"]) | st.text(max_size=8))] = (
                draw(json_values)
            )
        elif edit == "repeat" and isinstance(node, list):
            node.insert(key, node[key])
        else:
            node[key] = draw(json_values)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, cut_one_in - 1)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5))
    return text
