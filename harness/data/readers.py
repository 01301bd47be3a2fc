"""File-format readers: the escape hatch task specs name in `reader:` when a format needs parsing.

A reader turns one file into rows in the Hub schema of its task: the spec's text columns and its
label column. It yields `(row_number, row)`; the row number is the line (CSV, TSV, JSONL: the
header is line 1) or the item position (XML, Parquet), so errors can point at the exact place.
The registry is the explicit `READERS` dict at the bottom of this file.
"""
from __future__ import annotations

import csv
import io
import functools
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Iterator

from harness.errors import DataError
from harness.files import UTF8_BOM, decode_reason, open_binary, read_bytes, read_text

Row = dict[str, object]
Reader = Callable[[Path, list[str], str], Iterator[tuple[int, Row]]]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _select(path: Path, header: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the file has {header}")


SNIFFED_DELIMITERS = (",", ";", "\t", "|")


def decode_text(path: Path, encoding: str | None = None, detected: dict | None = None) -> str:
    """The file as text: in `encoding` when the spec names one, else UTF-8 (a byte-order mark
    dropped) or UTF-16 with its byte-order mark. `detected["encoding"]` says which was used."""
    if encoding is None:
        data = read_bytes(path, error=DataError)
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            try:
                text = read_text(path, error=DataError)
            except DataError as exc:
                raise DataError(f"{exc} (or name the file's encoding in the task spec, e.g. 'encoding: cp1252')") from None
            if detected is not None:
                detected["encoding"] = "utf-8-sig" if data.startswith(UTF8_BOM) else "utf-8"
            return text
    data = read_bytes(path, error=DataError)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}, line {line}: not {encoding} text (byte {data[exc.start:exc.start + 1]!r}); check 'encoding:' in the task spec") from None
    if detected is not None:
        detected["encoding"] = encoding
    return text.removeprefix("\ufeff")


def sniff_delimiter(text: str, wanted: list[str], default: str, header: bool = True) -> str:
    """The field separator of a delimited file: with a header, the first of the default, ',', ';',
    tab and '|' that splits the header line into fields holding every wanted column; without a
    header (or when none does), csv.Sniffer's guess among those, else the default."""
    first = text.splitlines()[0] if text.strip() else ""
    if header:
        for candidate in dict.fromkeys((default, *SNIFFED_DELIMITERS)):
            fields = [f.strip() for f in next(csv.reader([first], delimiter=candidate), [])]
            if all(c in fields for c in wanted):
                return candidate
    try:
        return csv.Sniffer().sniff("\n".join(text.splitlines()[:20]), delimiters="".join(SNIFFED_DELIMITERS)).delimiter
    except csv.Error:
        return default


def _delimited(path: Path, columns: list[str], label: str, delimiter: str | None, quoting: int, *,
               default: str = ",", encoding: str | None = None, header: bool = True,
               detected: dict | None = None) -> Iterator[tuple[int, Row]]:
    # Decoded whole (a bad byte is reported with its line, a folder or a permission as one
    # line); newline="" lets the csv module handle CRLF and newlines inside quoted fields. The
    # row number is the line a record starts on. `delimiter` None: detected (sniff_delimiter).
    text = decode_text(path, encoding, detected)
    if delimiter is None:
        delimiter = sniff_delimiter(text, columns + [label], default, header)
    if detected is not None:
        detected["delimiter"] = delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        names = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty (no header row)") from None
    except csv.Error as exc:
        raise DataError(f"{path}, line 1: cannot read the header ({exc})") from None
    if header:
        names = [h.strip() for h in names]
        _select(path, names, columns + [label])
        first_rows: list[list[str]] = []
    else:  # columns are named by their index; the first line is a row
        first_rows, names = [names], [str(i) for i in range(len(names))]
        wanted = columns + [label]
        outside = [c for c in wanted if int(c) >= len(names)]
        if outside:
            raise DataError(f"{path}: column index(es) {outside} outside the file's {len(names)} column(s) (0..{len(names) - 1})")
    index = {name: names.index(name) for name in columns + [label]}
    start = 1 if first_rows else reader.line_num + 1
    while True:
        try:
            fields = first_rows.pop() if first_rows else next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{path}, line {start}: cannot parse the row ({exc})") from None
        line_no, start = start, reader.line_num + 1
        if not fields:  # a blank line
            continue
        if len(fields) < len(names) or any(f.strip() for f in fields[len(names):]):
            hint = " (a text holding the delimiter must be quoted)" if len(fields) > len(names) else ""
            raise DataError(
                f"{path}, line {line_no}: {len(fields)} field(s), the {'header has' if header else 'first row has'} {len(names)}{hint}"
            )
        yield line_no, {name: fields[i] for name, i in index.items()}


def read_csv(path: Path, columns: list[str], label: str, **options) -> Iterator[tuple[int, Row]]:
    """Delimited text with standard quoting (MIAM; the generic layout's .csv). The separator is
    the spec's `delimiter`, else detected from the header line (',' ';' tab '|'); the spec may also
    name an `encoding` and say `header: false`."""
    return _delimited(path, columns, label, options.pop("delimiter", None), csv.QUOTE_MINIMAL, default=",", **options)


def read_tsv(path: Path, columns: list[str], label: str, **options) -> Iterator[tuple[int, Row]]:
    """Tab-separated with standard CSV quoting (the generic layout's .tsv); options as read_csv."""
    return _delimited(path, columns, label, options.pop("delimiter", None) or "\t", csv.QUOTE_MINIMAL, default="\t", **options)


def read_glue_tsv(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """GLUE TSV: tab-separated, no quoting at all, so quote characters come through unchanged."""
    for line_no, row in _delimited(path, columns, label, "\t", csv.QUOTE_NONE):
        value = str(row[label]).strip()
        row[label] = int(value) if value.lstrip("-").isdigit() else value
        yield line_no, row


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSON-lines file; a bad line is a one-line
    DataError naming the file and line. Also used by `harness predict --input`."""
    # Read bytes and decode line by line, so that a bad byte is reported on its own line.
    with open_binary(path, error=DataError) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1:
                raw = raw.removeprefix(UTF8_BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}, line {line_no}: {decode_reason(raw, exc).partition(': ')[2]}") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {line_no}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise DataError(f"{path}, line {line_no}: JSON nested too deeply; give one flat object per line") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}, line {line_no}: expected a JSON object, got {type(obj).__name__}")
            yield line_no, obj


def _select_fields(path: Path, line_no: int, obj: dict, wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in obj]
    if missing:
        raise DataError(f"{path}, line {line_no}: missing field(s) {missing}; the object has {list(obj)}")


def read_jsonl(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """JSON lines with the Hub schema's field names."""
    for line_no, obj in json_lines(path):
        _select_fields(path, line_no, obj, columns + [label])
        yield line_no, {name: obj[name] for name in columns + [label]}


def read_snli_jsonl(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """The official SNLI 1.0 release: sentence1 / sentence2 / gold_label ('-' = no consensus)."""
    if len(columns) != 2:
        raise DataError(f"{path}: the snli_jsonl reader needs a text pair in the spec")
    for line_no, obj in json_lines(path):
        _select_fields(path, line_no, obj, ["sentence1", "sentence2", "gold_label"])
        yield line_no, {columns[0]: obj["sentence1"], columns[1]: obj["sentence2"], label: obj["gold_label"]}


def read_cls_review(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """Webis-CLS-10 `.review` XML: <items><item><rating/><text/>...</item></items>.
    Label: 1 (positive) when rating > 3, else 0 (negative). Every item must parse."""
    try:
        root = ET.fromstring(read_bytes(path, error=DataError))
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid XML ({exc})") from None
    for number, item in enumerate(root.iter("item"), start=1):
        text = item.findtext("text")
        rating = item.findtext("rating")
        if text is None or rating is None:
            raise DataError(f"{path}, item {number}: missing <text> or <rating>")
        try:
            stars = float(rating)
        except ValueError:
            raise DataError(f"{path}, item {number}: rating '{rating}' is not a number") from None
        yield number, {columns[0]: text.strip(), label: 1 if stars > 3 else 0}


def read_parquet(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """Parquet with the Hub schema's column names (e.g. a Hub split saved with to_parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    _select(path, table.column_names, columns + [label])
    data = {name: table.column(name).to_pylist() for name in columns + [label]}
    for i in range(table.num_rows):
        yield i + 1, {name: data[name][i] for name in data}


# --------------------------------------------------------------------------- XNLI, Allociné, IMDb
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _pair_only(path: Path, columns: list[str], reader: str) -> None:
    if len(columns) != 2:
        raise DataError(f"{path}: the {reader} reader needs a text pair in the spec")


def read_xnli_tsv(path: Path, columns: list[str], label: str, language: str) -> Iterator[tuple[int, Row]]:
    """XNLI 1.0 `xnli.{dev,test}.tsv`: all 15 languages in one file; the rows of `language`, with
    sentence1 / sentence2 / gold_label. No quoting (csv.QUOTE_NONE), as the upstream Hub loader read it."""
    _pair_only(path, columns, f"xnli_{language}")
    for line_no, row in _delimited_all(path, ["language", "sentence1", "sentence2", "gold_label"], "\t"):
        if row["language"] == language:
            yield line_no, {columns[0]: row["sentence1"], columns[1]: row["sentence2"], label: row["gold_label"]}


def read_xnli_mt_tsv(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """XNLI-MT 1.0 `multinli.train.<lang>.tsv` (machine-translated MultiNLI): premise / hypo / label.
    Unbalanced quote characters occur in the texts, so no quoting at all (csv.QUOTE_NONE), as the
    upstream Hub loader read it; its label 'contradictory' is XNLI's 'contradiction'."""
    _pair_only(path, columns, "xnli_mt_tsv")
    for line_no, row in _delimited_all(path, ["premise", "hypo", "label"], "\t"):
        gold = "contradiction" if row["label"] == "contradictory" else row["label"]
        yield line_no, {columns[0]: row["premise"], columns[1]: row["hypo"], label: gold}


def _delimited_all(path: Path, fields: list[str], delimiter: str) -> Iterator[tuple[int, Row]]:
    """Rows of an unquoted delimited file as {field: value} for the named upstream fields."""
    first = fields[0]
    return _delimited(path, fields[1:], first, delimiter, csv.QUOTE_NONE)


def read_allocine_jsonl(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """The Allociné release (`data/{train,val,test}.jsonl`): `review` and `polarity` (0 negative,
    1 positive) per line, among other fields."""
    for line_no, obj in json_lines(path):
        _select_fields(path, line_no, obj, ["review", "polarity"])
        yield line_no, {columns[0]: obj["review"], label: obj["polarity"]}


ACL_IMDB_CLASSES = ("neg", "pos")


def read_acl_imdb(path: Path, columns: list[str], label: str) -> Iterator[tuple[int, Row]]:
    """A split folder of the aclImdb release (`aclImdb/train`, `aclImdb/test`): one review per file
    in `neg/` and `pos/`, named `<id>_<stars>.txt`. Label: 0 for neg/, 1 for pos/ (the Hub's ids). Rows: neg then pos, files
    in name order; the row number counts files from 1. The text is kept exactly as in the file,
    HTML line breaks (`<br />`) included, as the Hub dataset has it."""
    if not path.is_dir():
        raise DataError(f"{path}: the acl_imdb reader reads a folder holding neg/ and pos/, not a file")
    missing = [c for c in ACL_IMDB_CLASSES if not (path / c).is_dir()]
    if missing:
        raise DataError(f"{path}: missing folder(s) {missing}; an aclImdb split folder holds neg/ and pos/")
    number = 0
    for label_id, polarity in enumerate(ACL_IMDB_CLASSES):
        for file in sorted(p for p in (path / polarity).iterdir() if p.suffix == ".txt"):
            number += 1
            text = read_text(file, "review", DataError)
            yield number, {columns[0]: text, label: label_id}


READERS: dict[str, Reader] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "glue_tsv": read_glue_tsv,
    "jsonl": read_jsonl,
    "snli_jsonl": read_snli_jsonl,
    "cls_review": read_cls_review,
    "parquet": read_parquet,
    "xnli_mt_tsv": read_xnli_mt_tsv,
    "allocine_jsonl": read_allocine_jsonl,
    "acl_imdb": read_acl_imdb,
    # one XNLI reader a language: the language is part of the name a spec gives
    **{f"xnli_{lang}": functools.partial(read_xnli_tsv, language=lang) for lang in XNLI_LANGUAGES},
}

# What the row number of each reader counts, for error messages ("<file>, line 12: ...").
LOCATION_UNITS: dict[str, str] = {"cls_review": "item", "parquet": "row", "acl_imdb": "file"}  # the others: "line"

# Readers that read a folder instead of a file (the spec's `local` / archive `member` is a folder).
FOLDER_READERS = {"acl_imdb"}

# Readers that take the spec's `delimiter`, `encoding` and `header` (harness.spec.task.DELIMITED_READERS).
OPTION_READERS = {"csv", "tsv"}

# The generic local layout `<task>/<split>.<ext>` reads these formats.
GENERIC_READERS = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv", "tsv": "tsv"}
