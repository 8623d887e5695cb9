"""Point the bare "§N" / "§N.M" protocol citations of code, tests, template and README at docs/protocol.md.

Run from the repository root (any Python 3.11+, standard library only; not part of the layer):

    python3 tools/cite_protocol.py            # rewrite in place, list the files changed
    python3 tools/cite_protocol.py --check    # change nothing; exit 1 if something would change

What it does, per comment block (consecutive ``#`` lines), per string literal (a docstring) in
Python, and per paragraph (consecutive non-blank lines) elsewhere:

* the old names of the protocol reference become the document's path: "protocol reference §8.3",
  "protocol §4–§6", "the research notes' §5.8", "§6.3 of the protocol" → "docs/protocol.md §…";
* a block that cites a section and still does not name docs/protocol.md gets the path before its
  first citation: "(§5.4)" → "(docs/protocol.md §5.4)", "§5.4, §6.2" → "docs/protocol.md §5.4, §6.2".
  Once per block is enough: later citations of the block stay short.

A citation is "§" and one or two numbers (§6, §6.2); three (§9.2.6) name another document's section
and are left alone, as are local/tim_emulator (its helpers repoint it themselves) and the test's
examples (tests/infra/test_protocol_refs.py). A Python line the rewrite pushes past the line length
is split at a space, its tail continued on a new line with the same indentation (and "# " in a
comment). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = "docs/protocol.md"
TREES = ("layers", "functions", "cli", "local", "tests", "bench")
FILES = ("template.yaml", "README.md")
# The emulator's helpers repoint it themselves; the test's examples are this rewrite's input.
EXCLUDED = ("local/tim_emulator", "tests/infra/test_protocol_refs.py")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".sh", ".cfg", ".ini"}
LINE_LENGTH = 120  # pyproject.toml [tool.ruff] line-length

CITE = re.compile(r"(?<![\w/])§\d+(?:\.\d+)?(?!\.?\d)")
# Old names of the reference in front of a citation, and the "§6.3 of the protocol" form.
OLD_NAME = re.compile(r"(?<![\w/.])(?:protocol reference|protocol|(?:the )?(?:research|team's) notes'?)(?= §\d)")
OF_THE_PROTOCOL = re.compile(r"(?<![\w/])(§\d+(?:\.\d+)?) of the protocol(?: reference)?\b")


def rewrite_block(text: str) -> str:
    """One comment block, string or paragraph, rewritten (unchanged when it cites nothing)."""
    if not CITE.search(text):
        return text
    text = OF_THE_PROTOCOL.sub(rf"{DOC} \1", text)
    text = OLD_NAME.sub(DOC, text)
    if DOC not in text:
        first = CITE.search(text)
        assert first is not None
        text = f"{text[: first.start()]}{DOC} {text[first.start() :]}"
    return text


def _offsets(source: str) -> list[int]:
    starts, pos = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    starts.append(pos)
    return starts


def python_spans(source: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_comment) of each comment block and string literal, as character offsets."""
    starts = _offsets(source)
    spans: list[tuple[int, int, bool]] = []
    comment: list[int] | None = None  # [start, end, last row, standalone]
    fstring_start: int | None = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        start = starts[tok.start[0] - 1] + tok.start[1]
        end = starts[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.COMMENT:
            # A comment after code is a block of its own; comment lines that follow each other are one.
            alone = tok.line.lstrip().startswith("#")
            if alone and comment is not None and comment[3] and tok.start[0] == comment[2] + 1:
                comment[1], comment[2] = end, tok.start[0]
            else:
                if comment is not None:
                    spans.append((comment[0], comment[1], True))
                comment = [start, end, tok.start[0], alone]
            continue
        if tok.type == tokenize.STRING:
            spans.append((start, end, False))
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":  # Python 3.12+ splits f-strings into tokens
            fstring_start = start
        elif name == "FSTRING_END" and fstring_start is not None:
            spans.append((fstring_start, end, False))
            fstring_start = None
    if comment is not None:
        spans.append((comment[0], comment[1], True))
    return sorted(spans)


def text_spans(source: str) -> list[tuple[int, int, bool]]:
    """Paragraphs: runs of non-blank lines."""
    return [(m.start(), m.end(), False) for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", source)]


def _split_long_lines(source: str, edited: list[tuple[int, int, bool]]) -> str:
    """Split the Python lines an edit made too long, inside the edited spans only."""
    out: list[str] = []
    pos = 0
    for line in source.splitlines(keepends=True):
        begin, pos = pos, pos + len(line)
        body = line.rstrip("\n")
        span = next((s for s in edited if s[0] <= begin < s[1] or begin <= s[0] < pos), None)
        if span is None or len(body) <= LINE_LENGTH or DOC not in body:
            out.append(line)
            continue
        stripped = body.lstrip()
        indent = body[: len(body) - len(stripped)]
        comment = span[2]
        if comment:
            prefix = indent + "# "
        elif stripped.startswith(('"""', "'''")):
            prefix = indent
        elif span[0] < begin and not stripped.startswith(('"', "'")):
            prefix = indent  # a docstring's later line
        else:
            print(f"  cannot split a one-line string: {body[:60]}…", file=sys.stderr)
            out.append(line)
            continue
        while len(body) > LINE_LENGTH:
            cut = body.rfind(" ", len(prefix) + 1, LINE_LENGTH + 1)
            while cut > len(prefix) and body[:cut].endswith(DOC):  # keep "docs/protocol.md §n" on one line
                cut = body.rfind(" ", len(prefix) + 1, cut)
            if cut <= len(prefix):
                break
            out.append(body[:cut] + "\n")
            body = prefix + body[cut + 1 :]
        out.append(body + line[len(line.rstrip("\n")) :])
    return "".join(out)


def rewrite_source(source: str, python: bool) -> str:
    try:
        spans = python_spans(source) if python else text_spans(source)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        spans = text_spans(source)
    out: list[str] = []
    edited: list[tuple[int, int, bool]] = []
    pos = shift = 0
    for start, end, comment in spans:
        if start < pos:  # nested in the previous span (cannot happen with tokenize's spans; kept safe)
            continue
        new = rewrite_block(source[start:end])
        out.append(source[pos:start])
        out.append(new)
        if new != source[start:end]:
            edited.append((start + shift, end + shift + len(new) - (end - start), comment))
        shift += len(new) - (end - start)
        pos = end
    out.append(source[pos:])
    result = "".join(out)
    return _split_long_lines(result, edited) if python and edited else result


def candidates(root: Path = ROOT) -> list[Path]:
    paths = [root / name for name in FILES if (root / name).is_file()]
    for tree in TREES:
        for path in sorted((root / tree).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if not path.is_file() or path.suffix not in SUFFIXES or rel.startswith(EXCLUDED):
                continue
            if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts):
                continue
            paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for path in candidates():
        source = path.read_text(encoding="utf-8")
        if "§" not in source:
            continue
        new = rewrite_source(source, python=path.suffix == ".py")
        if new != source:
            changed.append(path.relative_to(ROOT).as_posix())
            if not check:
                path.write_text(new, encoding="utf-8")
    for name in changed:
        print(("would rewrite " if check else "rewrote ") + name)
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
