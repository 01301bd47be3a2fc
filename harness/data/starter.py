"""`harness tasks init NAME --from FILE`: a starter task spec guessed from one data file.

The guess is what a person would do looking at the file: the separator and encoding as the
readers detect them, the label column (the one with few distinct values), the text column (the
longest remaining one), the labels found with their counts. The spec is written for the user to
check and edit; nothing is trained and no existing file is overwritten.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.data.readers import SNIFFED_DELIMITERS, decode_text, json_lines
from harness.errors import DataError, HarnessError
from harness.spec.common import NAME_PATTERN

MAX_LABELS = 50
TEST_NAMES = ("test", "dev", "eval")


@dataclass
class Guess:
    reader: str
    columns: list[str]
    rows: list[dict[str, str]]
    delimiter: str | None = None
    encoding: str = "utf-8"


def read_table(path: Path) -> Guess:
    """The rows of a CSV / TSV / JSON-lines file as strings, with the detected format."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = [{k: "" if v is None else str(v) for k, v in obj.items()} for _, obj in json_lines(path)]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return Guess("jsonl", columns, rows)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise HarnessError(f"{path}: tasks init reads .csv, .tsv and .jsonl files; convert the file or write the spec by hand (docs/tasks-and-readers.md)")
    detected: dict = {}
    text = decode_text(path, None, detected)
    default = "\t" if suffix == ".tsv" else ","
    delimiter = _consistent_delimiter(text, default)
    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    if len(records) < 2:
        raise DataError(f"{path}: needs a header row and at least one row of data")
    columns = [c.strip() for c in records[0]]
    rows = [dict(zip(columns, r)) for r in records[1:]]
    return Guess("tsv" if delimiter == "\t" else "csv", columns, rows, delimiter, detected.get("encoding", "utf-8"))


def _consistent_delimiter(text: str, default: str) -> str:
    """The separator that splits the first 50 records into the header's field count (two or
    more) most often; the default wins ties."""
    def score(candidate: str) -> tuple[float, int]:
        records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=candidate) if r][:50]
        if not records or len(records[0]) < 2:
            return (0.0, 0)
        same = sum(len(r) == len(records[0]) for r in records) / len(records)
        return (same, candidate == default)

    return max(dict.fromkeys((default, *SNIFFED_DELIMITERS)), key=score)


def guess_columns(guess: Guess, path: Path) -> tuple[str, str]:
    """(text column, label column): the label has the fewest distinct values (2..MAX_LABELS,
    repeated), the text is the remaining column with the longest mean length."""
    n = len(guess.rows)
    distinct = {c: len({row.get(c, "").strip() for row in guess.rows}) for c in guess.columns}
    candidates = [c for c in guess.columns if 2 <= distinct[c] <= min(MAX_LABELS, max(2, n // 2))]
    if not candidates:
        raise DataError(f"{path}: no column looks like a label (2 to {MAX_LABELS} values, each repeated); columns: {guess.columns}")
    label = min(candidates, key=lambda c: (distinct[c], guess.columns.index(c)))
    texts = [c for c in guess.columns if c != label]
    if not texts:
        raise DataError(f"{path}: only one column ({label}); a task needs a text column and a label column")
    text = max(texts, key=lambda c: sum(len(row.get(c, "")) for row in guess.rows) / max(n, 1))
    return text, label


def _sibling_test(path: Path) -> Path | None:
    for name in TEST_NAMES:
        for candidate in sorted(path.parent.glob(f"*{name}*{path.suffix}")):
            if candidate != path:
                return candidate
    return None


def _yaml(value: str) -> str:
    """A YAML scalar: plain when safe, else JSON-quoted (valid YAML)."""
    return value if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_. -]*", value) and value.strip() == value else json.dumps(value, ensure_ascii=False)


def starter_spec(name: str, train: Path, out: Path, test: Path | None = None) -> tuple[str, str]:
    """(YAML text, summary line) of a starter spec for `train` (and `test`, else a sibling file
    whose name holds test / dev / eval), with `local:` paths relative to the spec's folder."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise HarnessError(f"task name '{name}': use lower-case letters, digits, '.', '_' and '-' (e.g. reviews-fr)")
    guess = read_table(train)
    text, label = guess_columns(guess, train)
    counts = Counter(row.get(label, "").strip() for row in guess.rows)
    labels = sorted(counts)
    test = test or _sibling_test(train)
    rel = lambda p: os.path.relpath(p.resolve(), out.resolve().parent)  # noqa: E731
    found = ", ".join(f"{lab} {counts[lab]}" for lab in labels)
    lines = [
        f"# Starter task spec written by `harness tasks init` from {train.name} ({len(guess.rows)} rows; columns: {', '.join(guess.columns)}).",
        "# Check every line (the TODOs first), then: harness --tasks-dir " + (rel(out.parent) if out.parent != Path(".") else ".") + f" tasks show {name}",
        f"family: {name}",
        "tasks:",
        f"  - name: {name}",
        "    language: und   # TODO: the texts' language code (en, fr, de, ...)",
        '    description: "TODO: what the texts are and what the labels mean"',
        f"    text: {_yaml(text)}   # the longest column; a text pair is [first, second]",
        f"    label: {_yaml(label)}",
        f"    labels: [{', '.join(_yaml(lab) for lab in labels)}]   # found: {found}; label id = position",
        f"    reader: {guess.reader}",
    ]
    if guess.delimiter not in (None, ",", "\t"):
        lines.append(f"    delimiter: {json.dumps(guess.delimiter)}   # detected")
    if guess.encoding not in ("utf-8", "utf-8-sig"):
        lines.append(f"    encoding: {guess.encoding}   # detected")
    lines += ["    splits:", f"      train: {{local: {_yaml(rel(train))}}}"]
    lines.append(f"      test: {{local: {_yaml(rel(test))}}}" if test else
                 "      test: {local: TODO-test.csv}   # TODO: held-out rows, never seen in training")
    lines.append("    validation_from_train: {fraction: 0.2, seed: 42}   # stratified by label")
    summary = (f"{len(guess.rows)} rows, text column '{text}', label column '{label}' with {len(labels)} labels ({found})"
               + (f", test split {test.name}" if test else "; no test file found: set splits.test"))
    return "\n".join(lines) + "\n", summary
