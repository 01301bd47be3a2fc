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
from harness.records.schema import Provenance, RecordStatus, _Part

PRETRAIN_SCHEMA_VERSION = 1
RECORD_FILE = "pretrain.json"
MODEL_FOLDER = "model"


class MaskedLMLoss(_Part):
    loss: float
    perplexity: float


class SourceIdentity(_Part):
    """The source's identity (harness.planning.identity.IdentityConfig) and init."""

    source: str
    init: str
    revision: str | None = None
    weights: str | None = None
    content_hash: str | None = None


class TokenizerFacts(_Part):
    """The tokenizer the artifact keeps: trained on the corpus (kind, vocabulary size, the size
    asked for) or the source's."""

    trained: bool
    vocab_size: int
    kind: str | None = None
    requested_vocab_size: int | None = None


class CorpusSourceFacts(_Part):
    kind: str  # task | file | hub
    name: str
    rows: int | None = None


class CorpusFacts(_Part):
    """The corpus (harness.data.corpus.CorpusProvenance) and, as an extra key, its spec as declared."""

    fingerprint: str
    sources: list[CorpusSourceFacts] = []
    rows: int
    train_rows: int
    heldout_rows: int


class PretrainLossPoint(_Part):
    """One step of the loss curve: the training loss logged there and the held-out loss."""

    step: int
    train_loss: float | None = None
    heldout_loss: float | None = None


class PretrainThroughput(_Part):
    """Tokens/s, samples/s and MFU of this process's steps; parameter counts, the peak FLOP/s and
    memory, and the definition are kept as extra keys in the order measured."""

    train_seconds: float | None = None
    train_tokens_per_s: float | None = None
    train_samples_per_s: float | None = None
    mfu: float | None = None
    mfu_encoder_only: float | None = None


class PretrainRecord(_Part):
    """One pretraining artifact: what was trained, on what, how well and how fast."""

    schema_version: Literal[1]
    kind: Literal["pretrain"] = "pretrain"
    model: str  # the model spec's name
    key: str  # hash of source identity + corpus fingerprint + pretraining recipe (with its seed) + tokenizer
    status: RecordStatus
    error: str | None = None
    source: SourceIdentity
    pretrain: dict[str, Any]  # the recipe as declared (PretrainSpec without the corpus block), hashed into the key
    tokenizer: TokenizerFacts | None = None
    corpus: CorpusFacts
    before: MaskedLMLoss | None = None  # held-out masked-LM loss of the starting weights
    after: MaskedLMLoss | None = None
    history: list[PretrainLossPoint] = []  # the loss curve
    steps: int | None = None
    tokens_seen: int | None = None
    throughput: PretrainThroughput | None = None
    resumed_from_step: int | None = None
    provenance: Provenance

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
