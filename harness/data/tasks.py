"""Loading a task's splits: local files, a URL or the Hub, normalised, labels mapped, fingerprinted.

The registry of task specs (tasks/*.yaml, one file per task family) is harness.data.registry;
its functions are re-exported here for the callers that load tasks.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import unicodedata
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict


from harness.errors import DataError, HarnessError, SpecError
from harness.data.readers import FOLDER_READERS, GENERIC_READERS, LOCATION_UNITS, OPTION_READERS, READERS, Row
from harness.data.carve import carve_validation
from harness.spec.task import TaskSpec
from harness.spec.common import suggest

if TYPE_CHECKING:
    from datasets import Dataset

# the registry of task specs lives in harness.data.registry; re-exported for the callers that load tasks
from harness.data.registry import BUILTIN_TASKS_DIR, get_task, load_registry, parse_family_file, task_dirs  # noqa: E402,F401


# --------------------------------------------------------------------------- loading
@dataclass
class TaskData:
    spec: TaskSpec
    splits: dict[str, Dataset]  # split name -> the text columns and `label`
    files: dict[str, str] = field(default_factory=dict)  # split -> where it was read from
    fingerprint: str = ""
    warnings: dict[str, str] = field(default_factory=dict)  # split -> row count differs from upstream
    dropped_empty: dict[str, int] = field(default_factory=dict)  # split -> rows dropped by `drop_empty: true`
    formats: dict[str, dict[str, str]] = field(default_factory=dict)  # split -> reader, delimiter, encoding used

    def label_counts(self, split: str) -> dict[str, int]:
        counts = {name: 0 for name in self.spec.labels}
        for label_id in self.splits[split]["label"]:
            counts[self.spec.labels[label_id]] += 1
        return counts


def data_dir_from_env(data_dir: str | Path | None) -> Path | None:
    """The data dir (argument, else HARNESS_DATA_DIR). One that does not exist is an error, never
    a silent fallback to bundled files or the network."""
    value = data_dir or os.environ.get("HARNESS_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        source = "--data-dir" if data_dir else "HARNESS_DATA_DIR"
        what = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{source} {path} {what}; give the folder that holds the task files (see docs/tasks-and-readers.md)")
    return path


def _local_candidates(spec: TaskSpec, split: str, data_dir: Path | None) -> list[tuple[Path, str]]:
    """Where a split's file may be, in order. `local:` resolves against the data dir, then the
    task file's own folder (a folder holding the spec and its CSVs just works); then the generic
    layout `<data-dir>/<task>/<split>.<ext>`; then files bundled with the spec."""
    source = spec.splits[split]
    spec_dir = Path(spec.spec_dir)
    out: list[tuple[Path, str]] = []
    if source.local:
        local = Path(source.local).expanduser()
        out += [(root / local, spec.reader_for(split)) for root in ([data_dir] if data_dir else []) + [spec_dir]]
    stem = source.hub_split or split
    if data_dir is not None:
        out += [(data_dir / spec.name / f"{stem}.{ext}", reader) for ext, reader in GENERIC_READERS.items()]
    if source.bundled:
        out.append((spec_dir / source.bundled, spec.reader_for(split)))
    return list(dict.fromkeys(out))


def _exists(path: Path, reader: str) -> bool:
    return path.is_file() or (reader in FOLDER_READERS and path.is_dir())


def _read_rows(path: Path, reader: str, spec: TaskSpec, detected: dict | None = None) -> tuple[list[int], list[Row]]:
    """Rows of one file; the numbers are what LOCATION_UNITS[reader] says (line, item or row).
    The csv and tsv readers get the spec's delimiter, encoding and header, and fill `detected`."""
    numbers, rows = [], []
    options = ({"delimiter": spec.delimiter, "encoding": spec.encoding, "header": spec.header, "detected": detected}
               if reader in OPTION_READERS else {})
    for number, row in READERS[reader](path, list(spec.text), spec.label, **options):
        numbers.append(number)
        rows.append(row)
    return numbers, rows


def _from_url(spec: TaskSpec, split: str) -> Path:
    from datasets import DownloadManager

    source = spec.splits[split]
    manager = DownloadManager()
    if source.member:
        folder = Path(manager.download_and_extract(source.url))
        path = folder / source.member
        if not path.exists():
            raise DataError(f"{source.url}: the archive has no member '{source.member}'")
        return path
    return Path(manager.download(source.url))


def _from_hub(spec: TaskSpec, split: str) -> tuple[list[int], list[Row]]:
    from datasets import load_dataset

    hub = spec.hub
    hub_split = spec.splits[split].hub_split or split
    dataset = load_dataset(hub.path, hub.name, revision=hub.revision, split=hub_split)
    columns = list(spec.text) + [spec.label]
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataError(f"hub {hub.path}/{hub.name} split {hub_split}: missing column(s) {missing}")
    data = {c: dataset[c] for c in columns}
    rows = [{c: data[c][i] for c in columns} for i in range(len(dataset))]
    return list(range(len(rows))), rows


def _label_id(value: Any, name_to_id: dict[str, int]) -> int | None:
    """The label id of one raw value: a label name, or an integer id (int, integral float, digits)."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFC", value.strip())  # the spec's names are NFC too
        if text in name_to_id:
            return name_to_id[text]
        return int(text) if text.isdigit() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _is_empty(text: Any) -> bool:
    return text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip()


def _normalise(
    spec: TaskSpec, where: str, numbers: list[int], rows: list[Row], unit: str = "row"
) -> tuple[dict[str, list], int]:
    """Map label values to ids (names via the spec's list, ints checked), drop `drop_labels`.
    A label that is neither dropped nor known is an error naming the file and the line / item.
    A text that is empty or only whitespace is an error too, unless the spec says `drop_empty`:
    then the row is dropped and counted (the second value returned)."""
    name_to_id = {name: i for i, name in enumerate(spec.labels)}
    drop = {str(v).strip() for v in spec.drop_labels}
    out: dict[str, list] = {c: [] for c in spec.text}
    out["label"] = []
    dropped = 0
    for number, row in zip(numbers, rows):
        value = row[spec.label]
        key = int(value) if isinstance(value, float) and value.is_integer() else value  # -1.0 drops like -1
        if key is not None and not isinstance(key, bool) and str(key).strip() in drop:
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise DataError(f"{where}, {unit} {number}: no label in column '{spec.label}'")
        empty = next((c for c in spec.text if _is_empty(row[c])), None)
        if empty is not None:
            if spec.drop_empty:
                dropped += 1
                continue
            raise DataError(
                f"{where}, {unit} {number}: the text in column '{empty}' is empty; fix or remove the row, "
                f"or set 'drop_empty: true' in the spec of '{spec.name}' ({spec.spec_file}) to drop such rows"
            )
        label_id = _label_id(value, name_to_id)
        if label_id is None:
            raise DataError(
                f"{where}, {unit} {number}: unknown label {value!r}{suggest(str(value), name_to_id)}; "
                f"the spec of '{spec.name}' lists {len(spec.labels)} labels ({spec.spec_file})"
            )
        if not 0 <= label_id < len(spec.labels):
            raise DataError(f"{where}, {unit} {number}: label id {label_id} is outside 0..{len(spec.labels) - 1}")
        for column in spec.text:
            text = row[column]
            out[column].append(str(text))
        out["label"].append(label_id)
    return out, dropped


def _fingerprint(splits: dict[str, dict[str, list]], spec: TaskSpec) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"labels": spec.labels, "text": spec.text}).encode())
    for split in sorted(splits):
        digest.update(split.encode())
        digest.update(json.dumps(splits[split], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _remote(spec: TaskSpec, what: str):
    """Network and Hub failures become one-line errors that say how to run offline."""
    try:
        yield
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - requests, fsspec, huggingface_hub and datasets raise many types
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataError(
            f"task '{spec.name}': could not read {what} ({type(exc).__name__}: {detail}); "
            "offline or air-gapped? download the files and pass --data-dir (see docs/tasks-and-readers.md)"
        ) from None


def load_task(spec: TaskSpec, data_dir: str | Path | None = None) -> TaskData:
    """Load train / validation / test with label ids in the spec's order.

    With a data dir (argument or HARNESS_DATA_DIR) only local files are read: `local:` under the
    data dir, then beside the task file, then the generic layout, then files bundled with the
    spec. Without one: `local:` beside the task file or bundled files, then the Hub, then the
    upstream URLs.
    """
    from datasets import ClassLabel, Dataset, Features, Value

    local_root = data_dir_from_env(data_dir)
    columns: dict[str, dict[str, list]] = {}
    files: dict[str, str] = {}
    warnings: dict[str, str] = {}
    dropped: dict[str, int] = {}
    formats: dict[str, dict[str, str]] = {}
    for split, source in spec.splits.items():
        candidates = _local_candidates(spec, split, local_root)
        if local_root is None and not source.bundled and not any(_exists(p, r) for p, r in candidates):
            candidates = None  # no local copy beside the spec: the Hub or the upstream URL
        if candidates is not None:
            found = next(((p, r) for p, r in candidates if _exists(p, r)), None)
            if found is None:
                tried = ", ".join(str(p) for p, _ in candidates)
                raise DataError(f"task '{spec.name}': no file for split '{split}'; tried: {tried}")
            path, reader = found
            formats[split] = {"reader": reader}
            numbers, rows = _read_rows(path, reader, spec, formats[split])
            where, unit = str(path), LOCATION_UNITS.get(reader, "line")
        elif spec.hub is not None:
            with _remote(spec, f"the Hub dataset {spec.hub.path}"):
                numbers, rows = _from_hub(spec, split)
            where, unit = f"hub {spec.hub.path}/{spec.hub.name}:{source.hub_split or split}", "row"
        elif source.url:
            with _remote(spec, source.url):
                path = _from_url(spec, split)
            formats[split] = {"reader": spec.reader_for(split)}
            numbers, rows = _read_rows(path, spec.reader_for(split), spec, formats[split])
            where = source.url + (f"#{source.member}" if source.member else "")
            unit = LOCATION_UNITS.get(spec.reader_for(split), "line")
        else:
            tried = ", ".join(str(p) for p, _ in _local_candidates(spec, split, None)) or "no local path"
            raise SpecError(
                f"{spec.spec_file}: task '{spec.name}' split '{split}': no file found (tried {tried}); put the file "
                "there, give 'local:' relative to the task file's folder, or pass --data-dir"
            )
        columns[split], n_empty = _normalise(spec, where, numbers, rows, unit)
        if spec.drop_empty:
            dropped[split] = n_empty
        files[split] = where
        read = len(columns[split]["label"]) + n_empty  # expected_rows counts rows before drop_empty
        expected = spec.expected_rows.get(split)
        if expected is not None and read != expected:
            warnings[split] = f"{read} rows, the full upstream split has {expected}"
        if not columns[split]["label"]:
            raise DataError(f"task '{spec.name}': split '{split}' is empty after reading {where}")

    features = Features({**{c: Value("string") for c in spec.text}, "label": ClassLabel(names=spec.labels)})
    splits = {name: Dataset.from_dict(data, features=features) for name, data in columns.items()}
    if spec.validation_from_train:
        splits["train"], splits["validation"], files["validation"] = carve_validation(spec, splits["train"], files["train"])
        columns = {name: ds.to_dict() for name, ds in splits.items()}
    for name in ("validation",):
        if len(splits[name]) == 0:
            raise DataError(f"task '{spec.name}': split '{name}' is empty")
    ordered = {name: splits[name] for name in ("train", "validation", "test")}
    return TaskData(
        spec=spec, splits=ordered, files=files, fingerprint=_fingerprint(columns, spec), warnings=warnings,
        dropped_empty=dropped, formats=formats,
    )


class SplitDescription(TypedDict):
    rows: int
    label_counts: dict[str, int]
    source: str


class TaskDescription(TypedDict):
    """The JSON `harness tasks show` prints."""

    task: str
    labels: list[str]
    splits: dict[str, SplitDescription]
    fingerprint: str
    formats: NotRequired[dict[str, dict[str, str]]]
    dropped_empty: NotRequired[dict[str, int]]
    warnings: NotRequired[dict[str, str]]


def describe_task(data: TaskData) -> TaskDescription:
    """The JSON `harness tasks show` prints."""
    return {
        "task": data.spec.name,
        "labels": list(data.spec.labels),
        "splits": {
            name: {"rows": len(ds), "label_counts": data.label_counts(name), "source": data.files.get(name, "")}
            for name, ds in data.splits.items()
        },
        "fingerprint": data.fingerprint,
        **({"formats": data.formats} if data.formats else {}),
        **({"dropped_empty": data.dropped_empty} if data.spec.drop_empty else {}),
        **({"warnings": data.warnings} if data.warnings else {}),
    }
