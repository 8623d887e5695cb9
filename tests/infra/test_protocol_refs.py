"""Protocol citations ("docs/protocol.md §5.4") in code, tests, template and README resolve to a heading
of docs/protocol.md, and no file cites a section without naming that document; tools/cite_protocol.py
(the rewrite that put the path in) does what its docstring says."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
TREES = ("layers", "functions", "cli", "local", "tests", "bench", "tools")  # the emulator included
FILES = ("template.yaml", "README.md")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".sh", ".cfg", ".ini"}

# "§6" or "§6.2"; a third level ("WHATWG HTML §9.2.6") is some other document's numbering.
CITATION = re.compile(r"(?<![\w/])§(\d+(?:\.\d+)?)(?!\.?\d)")
ITEM = re.compile(r"§9 items? (\d+)")
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)?)\.?\s", re.MULTILINE)


def _headings() -> set[str]:
    return set(HEADING.findall(DOC.read_text(encoding="utf-8")))


def _unconfirmed_items() -> int:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## 9.") : text.index("\n## 10.")]
    return len(re.findall(r"^\d+\. ", section, re.MULTILINE))


def _citing_files() -> dict[str, str]:
    paths = [ROOT / name for name in FILES]
    for tree in TREES:
        paths += [p for p in sorted((ROOT / tree).rglob("*")) if p.is_file() and p.suffix in SUFFIXES]
    found = {}
    for path in paths:
        rel = path.relative_to(ROOT)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        text = path.read_text(encoding="utf-8")
        if CITATION.search(text):
            found[rel.as_posix()] = text
    return found


def test_the_document_numbers_its_sections_as_the_code_cites_them():
    headings = _headings()
    assert {str(n) for n in range(1, 14)} <= headings
    # The subsections the code cites most, as headings (a table row does not count).
    assert {"1.2", "2.5", "4.1", "4.2", "5.3", "5.4", "5.5", "6.2", "6.4", "7.4", "8.3", "8.4", "13.7"} <= headings


def test_every_citation_resolves_to_a_heading():
    headings = _headings()
    unresolved = [
        f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: §{m.group(1)}"
        for rel, text in {**_citing_files(), "docs/protocol.md": DOC.read_text(encoding="utf-8")}.items()
        for m in CITATION.finditer(text)
        if m.group(1) not in headings
    ]
    assert not unresolved, "citations with no heading in docs/protocol.md:\n" + "\n".join(unresolved)


def test_every_cited_unconfirmed_item_exists():
    items = _unconfirmed_items()
    assert items >= 14
    missing = [
        f"{rel}: §9 item {m.group(1)}"
        for rel, text in _citing_files().items()
        for m in ITEM.finditer(text)
        if not 1 <= int(m.group(1)) <= items
    ]
    assert not missing


def test_every_file_that_cites_a_section_names_the_document():
    files = _citing_files()
    assert len(files) > 40
    anonymous = sorted(rel for rel, text in files.items() if "docs/protocol.md" not in text)
    assert not anonymous, "cite § without saying docs/protocol.md (run tools/cite_protocol.py):\n" + "\n".join(
        anonymous
    )


# ---------------------------------------------------------------------- the rewrite (tools/cite_protocol.py)


@pytest.fixture(scope="module")
def cite():
    spec = importlib.util.spec_from_file_location("cite_protocol", ROOT / "tools" / "cite_protocol.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("(§5.4)", "(docs/protocol.md §5.4)"),
        ("§5.4, §6.2: limits", "docs/protocol.md §5.4, §6.2: limits"),
        ("the client (protocol §4–§6)", "the client (docs/protocol.md §4–§6)"),
        ("streams (protocol reference §8.3) or (§8.4)", "streams (docs/protocol.md §8.3) or (§8.4)"),
        ("what §6.3 of the protocol calls safe", "what docs/protocol.md §6.3 calls safe"),
        ("see the team's notes §5.8", "see docs/protocol.md §5.8"),
        ("already (docs/protocol.md §10) and §10.1", "already (docs/protocol.md §10) and §10.1"),
        ("split on CR (WHATWG HTML §9.2.6)", "split on CR (WHATWG HTML §9.2.6)"),
        ("no citation at all", "no citation at all"),
    ],
)
def test_rewrite_of_one_block(cite, before, after):
    assert cite.rewrite_block(before) == after


SOURCE = '''"""Callbacks (protocol §1.1, §2)."""

X = "§2.5"  # the answer (§2.5)
# A limit of Tencent's: 40 messages a second in a group, all senders and APIs together, whatever they send (§6.1).
# The next line of the same comment (§6.4).


def f():
    """A docstring whose first line is long enough that the path pushes it past the limit of 120 (§13.5).

    More text (§5.5)."""
'''


def test_rewrite_of_a_python_source_is_stable_and_keeps_lines_short(cite):
    once = cite.rewrite_source(SOURCE, python=True)
    assert cite.rewrite_source(once, python=True) == once
    assert once.startswith('"""Callbacks (docs/protocol.md §1.1, §2)."""')
    assert 'X = "docs/protocol.md §2.5"  # the answer (docs/protocol.md §2.5)' in once
    assert "whatever they send\n# (docs/protocol.md §6.1).\n# The next line of the same comment (§6.4)." in once
    assert 'limit of 120\n    (docs/protocol.md §13.5).\n\n    More text (§5.5)."""' in once
    assert max(len(line) for line in once.splitlines()) <= cite.LINE_LENGTH
    compile(once, "<rewritten>", "exec")
