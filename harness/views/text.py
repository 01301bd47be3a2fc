"""The one escaper of text that comes from records and task specs (names, labels, errors,
descriptions) into markdown: the leaderboard, the report, compare and the model card all go
through here, so a label such as `a|b`, `<script>` or `**x**` shows as itself and never breaks
a table row, becomes a link or runs as HTML where the markdown is rendered. HTML output is
escaped by Jinja's autoescape (harness.views.webpage)."""
from __future__ import annotations

import re

# what can change how a line renders: a table cell's end, code, emphasis (an intraword `_` never
# emphasises), an HTML tag's start, a link (`[..](..)`, `[..]: ..`), a heading or quote at the start
_ALWAYS = re.compile(r"([\\`*|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|<(?=[A-Za-z/!?])")
_LINK = re.compile(r"\]\s*[(\[:]")


def one_line(text: object) -> str:
    """Newlines, tabs and other line breaks become single spaces."""
    return " ".join(str(text).split())


def md_escape(text: object) -> str:
    """Plain text for a markdown paragraph or table cell: one line, every active character
    backslash-escaped (CommonMark renders `\\<` as `<`)."""
    line = _ALWAYS.sub(lambda m: "\\" + m.group(0), one_line(text))
    if _LINK.search(line):
        line = line.replace("[", "\\[").replace("]", "\\]")
    return "\\" + line if line[:1] in ("#", ">") else line  # a heading or a quote where a paragraph starts


def md_code(text: object) -> str:
    """Text as a markdown code span whose fence is longer than any run of backticks inside it."""
    line = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"
