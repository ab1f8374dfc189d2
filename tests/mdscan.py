"""Scans of the Markdown docs shared by the docs' tests (``test_docs_commands``,
``test_docs_figures``): blocks with their line numbers, inline code, table cells, and the
``suanli ...`` commands written in them.

Only what the docs use: fenced code blocks (```` ``` ```` or ``~~~``, with or without an info
string), paragraphs, list items, headings and table rows. Not a CommonMark parser.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGS = frozenset({"", "sh", "bash", "shell", "zsh", "console", "shell-session"})
"""Fenced blocks whose lines may be commands (a bare fence too: the docs write some
commands in one). ``console`` blocks: only the lines after a ``$ `` prompt."""
PROMPT_LANGS = frozenset({"console", "shell-session"})

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Block:
    """A run of lines of one kind: ``code`` (a fenced block, without its fences),
    ``paragraph``, ``item`` (a list item with its continuation lines), ``heading`` or
    ``row`` (one table row). ``line`` is the 1-based number of the first line."""

    kind: str
    line: int
    lines: tuple[str, ...]
    lang: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Span:
    """Inline code: its text (whitespace collapsed; ``\\|`` read as ``|`` in a table row)
    and the line it starts on."""

    text: str
    line: int


@dataclass(frozen=True)
class DocCommand:
    """A ``suanli`` command written in a doc: where, as written, and its words after
    ``suanli``. ``synopsis``: written in the docs' notation (``[--flag X]`` optional,
    ``A|B`` alternatives, ``...`` for more), as inline code is; else a shell line. ``bare``:
    written without ``suanli`` in a table (``jobs [-o json]``); a command only if its first
    word is one."""

    file: str
    line: int
    text: str
    words: tuple[str, ...]
    synopsis: bool
    bare: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"


def blocks(text: str) -> list[Block]:
    """The blocks of a Markdown text, in order."""
    out: list[Block] = []
    current: list[str] = []
    kind, start, lang = "", 0, ""
    fence = ""

    def flush() -> None:
        nonlocal current, kind
        if kind and (current or kind == "code"):
            out.append(Block(kind, start, tuple(current), lang))
        current, kind = [], ""

    for number, line in enumerate(text.splitlines(), 1):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1).startswith(fence) and not opening.group(2):
                flush()
                fence = ""
            else:
                current.append(line)
            continue
        if opening:
            flush()
            fence, lang = opening.group(1), opening.group(2).lower()
            kind, start = "code", number + 1
            continue
        stripped = line.strip()
        new_kind = ""
        if not stripped:
            flush()
            continue
        if stripped.startswith("#"):
            new_kind = "heading"
        elif stripped.startswith("|"):
            new_kind = "row"
        elif _LIST_ITEM.match(line):
            new_kind = "item"
        if new_kind or kind in ("heading", "row", ""):
            flush()
            kind, start, lang = new_kind or "paragraph", number, ""
        current.append(line)
    flush()
    return out


def spans(block: Block) -> list[Span]:
    """The inline code in a block that is not code."""
    text = block.text
    found = []
    for match in _CODE_SPAN.finditer(text):
        content = " ".join(match.group(2).split())
        if block.kind == "row":
            content = content.replace("\\|", "|")
        found.append(Span(content, block.line + text.count("\n", 0, match.start())))
    return found


def cells(row: Block) -> list[str]:
    """The cells of a table row (``\\|`` does not split one)."""
    parts = _CELL_SPLIT.split(row.text.strip())
    return [p.strip() for p in parts[1:-1]] if len(parts) > 2 else [p.strip() for p in parts]


def strip_code(text: str) -> str:
    """The text with its inline code blanked out (same length, so offsets hold)."""
    return _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


# -- shell lines --------------------------------------------------------------------------------


def shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """The command lines of a code block, with their line numbers: continuation lines
    (ending in ``\\``) joined; in a ``console`` block, only what follows a ``$`` prompt."""
    prompted = block.lang in PROMPT_LANGS
    pending, first = "", 0
    for offset, raw in enumerate(block.lines):
        line = raw.rstrip()
        if not pending:
            first = block.line + offset
            body = line.lstrip()
            if body.startswith("$ "):
                line = body[2:]
            elif prompted:
                continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield first, pending + line
        pending = ""
    if pending:
        yield first, pending


def simple_commands(line: str) -> list[str]:
    """A shell line cut into its simple commands: the comment dropped, split at ``&&``,
    ``||``, ``;``, ``|`` and ``&`` outside quotes and ``$(...)``."""
    parts: list[str] = []
    current: list[str] = []
    quote, depth, i = "", 0, 0
    while i < len(line):
        char = line[i]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and i + 1 < len(line):
                current.append(line[i + 1])
                i += 1
        elif char == "\\" and i + 1 < len(line):
            current.append(line[i : i + 2])
            i += 1
        elif char in "'\"":
            quote = char
            current.append(char)
        elif line.startswith("$(", i):
            depth += 1
            current.append("$(")
            i += 1
        elif char == ")" and depth:
            depth -= 1
            current.append(char)
        elif depth:
            current.append(char)
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            break
        elif char in ";|&" and not (char == "&" and i and line[i - 1] in "<>"):
            parts.append("".join(current))
            current = []
            if line.startswith(("&&", "||"), i):
                i += 1
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def suanli_words(words: list[str]) -> tuple[str, ...] | None:
    """The words after ``suanli`` when ``words`` runs it (after any ``NAME=VALUE``
    prefixes, by any path to the script); else None."""
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words or words[0].rsplit("/", 1)[-1] != "suanli":
        return None
    return tuple(words[1:])


def _shell_words(command: str) -> list[str]:
    """The words of a simple command; a ``$(...)`` substitution is one word (its value)."""
    command = re.sub(r"\$\([^()]*\)", "$(...)", command)
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in an illustrative line
        return command.split()


def synopsis_words(text: str) -> list[str]:
    """The words of a command written in the docs' notation: ``[`` and ``]`` around optional
    parts dropped; alternatives (``A|B``) and ``...`` kept as words."""
    text = re.sub(r"(^|\s)\[+", r"\1", text)
    text = re.sub(r"\]+(?=\s|$|,)", "", text)
    return text.split()


# -- the commands of a doc -----------------------------------------------------------------------


def doc_commands(path: Path, root: Path) -> list[DocCommand]:
    """Every ``suanli`` command written in a Markdown file: in fenced code blocks (shell lines,
    ``$`` prompts, after ``&&``, ``;``, ``|``, behind ``NAME=VALUE`` prefixes), in inline code
    (prose, headings, table cells; ``bare``: written without ``suanli``, as ``plan --json`` in
    prose or ``status ID`` in a table), and in option tables (a table whose first header is
    ``option``, under a heading naming ``suanli X``: each row's flags must be X's)."""
    name = path.relative_to(root).as_posix()
    found: list[DocCommand] = []
    context: tuple[str, ...] = ()
    table: list[Block] = []
    for block in blocks(path.read_text(encoding="utf-8")):
        if block.kind != "row":
            table = []
        if block.kind == "code":
            if block.lang in SHELL_LANGS:
                for number, line in shell_lines(block):
                    for command in simple_commands(line):
                        words = suanli_words(_shell_words(command))
                        if words is not None:
                            found.append(DocCommand(name, number, command, words, synopsis=False))
            continue
        if block.kind == "heading":
            context = _heading_command(block)
        if block.kind == "row":
            table.append(block)
            if len(table) > 2 and context and _is_option_table(table[0]):
                flags = [s.text.split()[0] for s in _cell_spans(block, 0) if s.text.startswith("-")]
                if flags:
                    text = f"suanli {' '.join(context)} {' '.join(flags)}"
                    found.append(DocCommand(name, block.line, text, (*context, *flags), synopsis=True))
            found.extend(_row_commands(name, block))
            continue
        for span in spans(block):
            written = synopsis_words(span.text)
            words = suanli_words(written)
            if words:
                found.append(DocCommand(name, span.line, span.text, words, synopsis=True))
            elif _could_be_command(written) and len(written) > 1 and written[1].startswith("-"):
                found.append(DocCommand(name, span.line, span.text, tuple(written), synopsis=True, bare=True))
    return found


@dataclass(frozen=True)
class FlagMention:
    """A flag written alone in inline code (``--now ISO``), and the words of the inline code
    beside it (same paragraph, list item or table row, or the option table's heading) that
    could name the command it belongs to: ``suanli X`` gives X, ``X`` or ``X --flag`` give X."""

    file: str
    line: int
    text: str
    beside: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"


def flag_mentions(path: Path, root: Path) -> list[FlagMention]:
    """Every flag written alone in inline code outside code blocks."""
    name = path.relative_to(root).as_posix()
    found: list[FlagMention] = []
    context: tuple[str, ...] = ()
    for block in blocks(path.read_text(encoding="utf-8")):
        if block.kind == "code":
            continue
        block_spans = spans(block)
        beside: list[str] = []
        for span in block_spans:
            written = synopsis_words(span.text)
            words = suanli_words(written)
            if words:
                beside.append(words[0])
            elif _could_be_command(written):
                beside.append(written[0])
        if block.kind == "heading":
            context = _heading_command(block)[:1]
        elif block.kind == "row" and block_spans and cells(block) and cells(block)[0].startswith("`-"):
            beside.extend(context)
        for span in block_spans:
            if span.text.startswith("-"):
                found.append(FlagMention(name, span.line, span.text, tuple(dict.fromkeys(beside))))
    return found


def _could_be_command(words: list[str]) -> bool:
    return bool(words) and re.fullmatch(r"[a-z][a-z-]*", words[0]) is not None


def _heading_command(heading: Block) -> tuple[str, ...]:
    """The command a heading names (``### `suanli serve` ``), if any: its words after ``suanli``."""
    named = [s for s in spans(heading) if s.text.startswith("suanli ")]
    return tuple(named[0].text.split()[1:]) if named else ()


def _is_option_table(header: Block) -> bool:
    first = cells(header)[0].strip("` ").lower() if cells(header) else ""
    return first in ("option", "options", "flag", "flags")


def _cell_spans(row: Block, index: int) -> list[Span]:
    row_cells = cells(row)
    if index >= len(row_cells):
        return []
    return spans(Block("row", row.line, (row_cells[index],)))


def _row_commands(name: str, row: Block) -> list[DocCommand]:
    """The commands in a table row's inline code: each ``suanli X ...`` span, and, marked
    ``bare``, each span that could be a command written without ``suanli`` (``jobs [-o ...]``,
    ``status ID``, ``agent --executor ray``): a lower-case first word that is not a flag. The
    test keeps the bare ones whose first word is a command."""
    found = []
    for span in spans(row):
        words = synopsis_words(span.text)
        own = suanli_words(words)
        if own:
            found.append(DocCommand(name, span.line, span.text, own, synopsis=True))
        elif _could_be_command(words):
            found.append(DocCommand(name, span.line, span.text, tuple(words), synopsis=True, bare=True))
    return found
