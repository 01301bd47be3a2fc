"""The pretraining artifact's record: `RESULTS/pretrain/<model>-<key>/pretrain.json`, beside the
pretrained model (`model/`: weights, config, tokenizer). Typed and versioned like a result
record, written atomically and last: an artifact whose record is missing is not finished."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import ValidationError

from harness.errors import HarnessError
from harness.files import atomic_write_text, read_bytes
from harness.records.schema import RecordStatus, _Part

PRETRAIN_SCHEMA_VERSION = 1
RECORD_FILE = "pretrain.json"
MODEL_FOLDER = "model"


class MaskedLMLoss(_Part):
    loss: float
    perplexity: float


class PretrainRecord(_Part):
    """One pretraining artifact: what was trained, on what, how well and how fast."""

    schema_version: Literal[1]
    kind: Literal["pretrain"] = "pretrain"
    model: str  # the model spec's name
    key: str  # hash of source identity + corpus fingerprint + pretraining recipe (with its seed) + tokenizer
    status: RecordStatus
    error: str | None = None
    source: dict[str, Any]  # the source's identity (ModelIdentity.as_config) and init
    pretrain: dict[str, Any]  # the recipe (PretrainSpec without the corpus block)
    tokenizer: dict[str, Any] | None = None  # trained: kind and vocabulary size; else the source's
    corpus: dict[str, Any]  # fingerprint, sources (kind, name, rows), rows, train/held-out rows
    before: MaskedLMLoss | None = None  # held-out masked-LM loss of the starting weights
    after: MaskedLMLoss | None = None
    history: list[dict[str, Any]] = []  # step, train loss, held-out loss: the loss curve
    steps: int | None = None
    tokens_seen: int | None = None
    throughput: dict[str, Any] | None = None  # tokens/s, samples/s, MFU, peak memory, seconds
    resumed_from_step: int | None = None
    provenance: dict[str, Any]

    @property
    def completed(self) -> bool:
        return self.status is RecordStatus.COMPLETED

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": PRETRAIN_SCHEMA_VERSION, **self.as_json()}


def artifact_dir(results: str | Path, model: str, key: str) -> Path:
    return Path(results) / "pretrain" / f"{model}-{key}"


def write_pretrain_record(folder: Path, record: PretrainRecord) -> None:
    data = record.to_json()
    PretrainRecord.model_validate(data)
    atomic_write_text(folder / RECORD_FILE, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def read_pretrain_record(path: str | Path) -> PretrainRecord:
    """The validating reader: untrusted bytes from disk become a record or a one-line error."""
    path = Path(path)
    try:
        record = json.loads(read_bytes(path, "pretraining record").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HarnessError(f"{path}: not a JSON pretraining record ({exc}); rerun with --force or remove the folder") from None
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version != PRETRAIN_SCHEMA_VERSION:
        raise HarnessError(f"{path}: pretraining schema_version {version!r} is not supported (this harness reads 1)")
    try:
        return PretrainRecord.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise HarnessError(f"{path}: invalid pretraining record: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def load_pretrain_records(results: str | Path) -> Iterator[PretrainRecord]:
    """Every readable completed artifact record under RESULTS/pretrain/ (unreadable ones skipped)."""
    for path in sorted(Path(results).glob(f"pretrain/*/{RECORD_FILE}")):
        try:
            record = read_pretrain_record(path)
        except HarnessError:
            continue
        if record.completed:
            yield record
