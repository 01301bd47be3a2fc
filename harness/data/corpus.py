"""A pretraining corpus: the texts a `pretrain: corpus:` block names, assembled once, fingerprinted,
split into training and held-out texts, and checked against the evaluated tasks' held-out texts.

Sources: the tasks' train texts (labels unused; both texts of a pair task), text files (one text
a line, UTF-8, .txt or gzip-compressed .gz) and a Hub dataset's text column. A validation or
test text of an evaluated task is never pretrained on: a corpus that holds one is refused, naming
the source and the fix (texts the task's own train split also holds are no leak: the fine-tune
reads them anyway)."""
from __future__ import annotations

import gzip
import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Required, TypedDict

from harness.errors import DataError, HarnessError
from harness.spec.pretrain import CorpusSpec

if TYPE_CHECKING:
    from harness.data.tasks import TaskData


class CorpusSource(TypedDict, total=False):
    """One source of a corpus, as its pretraining record names it: kind, name, and what picks its
    texts (a task's splits and fingerprint, a Hub dataset's config, split, column and revision)."""

    kind: Required[str]  # task | file | hub
    name: Required[str]
    splits: list[str]
    data_fingerprint: str
    config: str | None
    split: str
    column: str
    revision: str | None
    rows: int  # texts it gave


class CorpusProvenance(TypedDict):
    """What a pretraining record says of its corpus."""

    fingerprint: str
    sources: list[CorpusSource]
    rows: int
    train_rows: int
    heldout_rows: int


@dataclass(frozen=True)
class Corpus:
    train: list[str]
    heldout: list[str]
    fingerprint: str  # sha256 of every text in order, and of the split
    sources: list[CorpusSource] = field(default_factory=list)  # per source: kind, name, rows

    def provenance(self) -> CorpusProvenance:
        return {"fingerprint": self.fingerprint, "sources": self.sources,
                "rows": len(self.train) + len(self.heldout), "train_rows": len(self.train),
                "heldout_rows": len(self.heldout)}


def _normal(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def task_texts(data, splits: Iterable[str]) -> list[str]:
    """Every text of a loaded task's splits (a pair task gives both texts), empty ones left out."""
    out = []
    for split in splits:
        ds = data.splits[split]
        for column in data.spec.text:
            out.extend(t for t in ds[column] if isinstance(t, str) and t.strip())
    return out


def held_out_texts(data) -> set[str]:
    """An evaluated task's validation and test texts that its train split does not hold."""
    train = {_normal(t) for t in task_texts(data, ["train"])}
    held = {_normal(t) for t in task_texts(data, [s for s in ("validation", "test") if s in data.splits])}
    return held - train


def _read_file(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"pretrain corpus file {file} does not exist; fix the path in models.yaml (relative to it)")
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"pretrain corpus file {file}: unreadable ({type(exc).__name__}: {exc}); "
                        "expected UTF-8 text, one text a line (.txt or .gz)") from None


def _read_hub(hub) -> list[str]:
    import datasets

    try:
        ds = datasets.load_dataset(hub.path, hub.name, split=hub.split, revision=hub.revision)
    except Exception as exc:  # noqa: BLE001 - any loading error is one line naming the dataset
        raise DataError(f"pretrain corpus hub dataset '{hub.path}': cannot load ({str(exc).splitlines()[0]})") from None
    if hub.column not in ds.column_names:
        raise DataError(f"pretrain corpus hub dataset '{hub.path}': no column '{hub.column}' "
                        f"(columns: {', '.join(ds.column_names)}); set corpus: hub: column")
    if hub.max_rows:
        ds = ds.select(range(min(hub.max_rows, len(ds))))
    return [t.strip() for t in ds[hub.column] if isinstance(t, str) and t.strip()]


def assemble_corpus(model: str, spec: CorpusSpec, tasks: dict[str, TaskData], guard: dict[str, set[str]],
                    heldout_fraction: float, seed: int) -> Corpus:
    """The corpus of model spec `model`. `tasks`: the loaded data of the tasks it names; `guard`:
    per evaluated task, its held-out texts (held_out_texts)."""
    sources: list[tuple[CorpusSource, list[str]]] = []
    for name in spec.tasks:
        sources.append(({"kind": "task", "name": name, "splits": list(spec.splits),
                         "data_fingerprint": tasks[name].fingerprint}, task_texts(tasks[name], spec.splits)))
    for path in spec.files:
        sources.append(({"kind": "file", "name": path}, _read_file(path)))
    if spec.hub is not None:
        sources.append(({"kind": "hub", "name": spec.hub.path, "config": spec.hub.name, "split": spec.hub.split,
                         "column": spec.hub.column, "revision": spec.hub.revision}, _read_hub(spec.hub)))
    texts: list[str] = []
    for info, rows in sources:
        _refuse_leaks(model, info, rows, guard)
        info["rows"] = len(rows)
        texts.extend(rows)
    if len(texts) < 2:
        raise DataError(f"model '{model}': pretrain corpus holds {len(texts)} text(s); it needs at least 2 "
                        "(one held out for the masked-LM loss)")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(len(texts) * heldout_fraction))
    heldout, train = [texts[i] for i in order[:n_held]], [texts[i] for i in order[n_held:]]
    digest = hashlib.sha256()
    for part in (train, heldout):
        for text in part:
            digest.update(text.encode("utf-8") + b"\0")
        digest.update(b"\1")
    return Corpus(train, heldout, digest.hexdigest()[:16], [info for info, _ in sources])


def _refuse_leaks(model: str, info: CorpusSource, rows: list[str], guard: dict[str, set[str]]) -> None:
    for task, held in guard.items():
        leaked = [t for t in rows if _normal(t) in held]
        if leaked:
            raise HarnessError(
                f"model '{model}': pretrain corpus {info['kind']} '{info['name']}' holds {len(leaked)} validation/test "
                f"text(s) of the evaluated task '{task}' (e.g. {leaked[0][:60]!r}); remove them from the corpus"
            )
