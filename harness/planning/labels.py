"""Label alignment of a published classifier (`init: finetuned`): which checkpoint label
(`id2label` in its config.json) predicts which task label.

Never silent: labels are matched by name (case and accents folded, plus the synonyms a user
expects: POSITIVE / pos / positif), or by an explicit `label_map` (checkpoint label -> task label,
or null: ignored). Several checkpoint labels may map to one task label (a 5-star model on a
binary task). Everything else is a one-line HarnessError (exit 2) raised while planning, read
from config.json and the safetensors header alone (no weights are loaded): generic LABEL_k names
without a map, names that do not align, a task label nothing maps to, a head of the wrong shape.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from harness.config_json import ModelConfigJson
from harness.errors import HarnessError
from harness.files import read_text
from harness.planning.identity import ModelIdentity

_SYNONYMS = {
    "positive": ("pos", "positive", "positif", "positiv", "positivo", "positiva", "good"),
    "negative": ("neg", "negative", "negatif", "negativ", "negativo", "negativa", "bad"),
    "neutral": ("neu", "neutral", "neutre", "neutro", "mixed"),
}
_CANONICAL = {word: canon for canon, words in _SYNONYMS.items() for word in words}
_GENERIC = re.compile(r"^LABEL_\d+$")
_HEAD_TENSORS = ("classifier.out_proj.weight", "classifier.weight", "score.weight")


def fold(name: str) -> str:
    """Case, accents and punctuation folded, then the synonym's canonical word."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^0-9a-z]+", "", text)
    return _CANONICAL.get(text, text)


class AlignmentRecord(TypedDict):
    """An alignment as a cell's config (hashed) and its record (harness.records.facts.LabelAlignment) keep it."""

    checkpoint_labels: list[str]
    map: dict[str, str | None]  # checkpoint label -> task label (None: ignored)
    by: dict[str, str]  # checkpoint label -> how it was aligned: name or label_map
    rule: str


@dataclass(frozen=True)
class Alignment:
    """Checkpoint output i predicts task label `targets[i]` (an index into the task's labels), or
    nothing (None: ignored). `by[i]` says how it was aligned: name, or label_map."""

    checkpoint_labels: tuple[str, ...]
    task_labels: tuple[str, ...]
    targets: tuple[int | None, ...]
    by: tuple[str, ...]

    def as_record(self) -> AlignmentRecord:
        return AlignmentRecord(
            checkpoint_labels=list(self.checkpoint_labels),
            map={c: (None if t is None else self.task_labels[t]) for c, t in zip(self.checkpoint_labels, self.targets)},
            by=dict(zip(self.checkpoint_labels, self.by)),
            rule="the prediction is the most probable checkpoint label that maps to a task label",
        )


def parse_label_map(text: str) -> dict[str, str | None]:
    """`--label-map 'LABEL_0=negative,LABEL_1=positive,neutral=null'` as a mapping."""
    out: dict[str, str | None] = {}
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"--label-map: '{item}' is not CHECKPOINT_LABEL=TASK_LABEL (e.g. LABEL_0=negative)")
        value = value.strip()
        out[key.strip()] = None if value.lower() in ("null", "none", "") else value
    if not out:
        raise HarnessError("--label-map is empty: give e.g. LABEL_0=negative,LABEL_1=positive")
    return out


def checkpoint_config(identity: ModelIdentity) -> ModelConfigJson:
    """The checkpoint's config.json: from its folder, or from the Hub (cache) at the resolved commit."""
    if identity.local:
        path = Path(identity.location) / "config.json"
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(identity.location, "config.json", revision=identity.revision))
        except Exception as exc:  # noqa: BLE001 - unreachable Hub and not cached
            raise HarnessError(f"model '{identity.name}': cannot read config.json of '{identity.location}' "
                               f"({type(exc).__name__}); download it once with network") from None
    try:
        config = json.loads(read_text(path, "model config"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"model '{identity.name}': {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(config, dict):
        raise HarnessError(f"model '{identity.name}': {path} is not a JSON object")
    return config


def _id2label(config: ModelConfigJson, where: str) -> list[str]:
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        raise HarnessError(f"{where}: config.json has no id2label: not a fine-tuned classifier (use init: pretrained to fine-tune it)")
    try:
        by_id = {int(k): str(v) for k, v in raw.items()}
    except (TypeError, ValueError):
        raise HarnessError(f"{where}: config.json id2label keys must be 0..n-1, got {sorted(raw)}") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise HarnessError(f"{where}: config.json id2label keys must be 0..n-1, got {sorted(by_id)}")
    labels = [by_id[i] for i in range(len(by_id))]
    if len(set(labels)) != len(labels):
        raise HarnessError(f"{where}: config.json id2label names a label twice: {labels}")
    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise HarnessError(f"{where}: config.json architectures {architectures} hold no sequence-classification "
                           f"head; evaluate a *ForSequenceClassification checkpoint, or fine-tune it (init: pretrained)")
    return labels


def head_outputs(identity: ModelIdentity) -> int | None:
    """Rows of the classification head in a local single-file safetensors checkpoint, read from the
    header only (no tensor is loaded); None where that cannot be read this cheaply."""
    path = Path(identity.location) / "model.safetensors"
    if not identity.local or not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            names = list(handle.keys())
            for suffix in _HEAD_TENSORS:
                found = [n for n in names if n.endswith(suffix)]
                if found:
                    return int(handle.get_slice(found[0]).get_shape()[0])
    except Exception as exc:  # noqa: BLE001 - a corrupt header
        raise HarnessError(f"model '{identity.name}': cannot read {path} ({type(exc).__name__}: {exc})") from None
    return 0


def _suggested_map(checkpoint: list[str], task: list[str]) -> str:
    by_name = {fold(t): t for t in task}
    pairs = []
    for i, name in enumerate(checkpoint):
        target = by_name.get(fold(name)) or (task[i] if len(checkpoint) == len(task) else "TASK_LABEL_OR_null")
        pairs.append((name, target))
    yaml = "{" + ", ".join(f"{c}: {t}" for c, t in pairs) + "}"
    cli = ",".join(f"{c}={t}" for c, t in pairs)
    return f"write label_map: {yaml} in its models.yaml entry (harness evaluate: --label-map '{cli}')"


def align_labels(identity: ModelIdentity, task_name: str, task_labels: list[str],
                 label_map: dict[str, str | None] | None, config: ModelConfigJson | None = None) -> Alignment:
    """The alignment of this checkpoint with this task's labels, or one line saying what to write."""
    where = f"model '{identity.name}' on task '{task_name}'"
    config = checkpoint_config(identity) if config is None else config
    checkpoint = _id2label(config, f"model '{identity.name}'")
    rows = head_outputs(identity)
    if rows == 0:
        raise HarnessError(f"model '{identity.name}': {identity.location}/model.safetensors holds no classification "
                           f"head ({', '.join(_HEAD_TENSORS)}); it cannot be evaluated as published")
    if rows is not None and rows != len(checkpoint):
        raise HarnessError(f"model '{identity.name}': the classification head has {rows} outputs but config.json "
                           f"id2label names {len(checkpoint)} labels ({checkpoint}); the checkpoint is inconsistent")
    both = f"checkpoint labels {checkpoint}, task labels {list(task_labels)}"
    fix = _suggested_map(checkpoint, list(task_labels))
    label_map = dict(label_map or {})
    unknown = [k for k in label_map if k not in checkpoint]
    if unknown:
        raise HarnessError(f"{where}: label_map names '{unknown[0]}', which is not a checkpoint label ({both})")
    bad = [v for v in label_map.values() if v is not None and v not in task_labels]
    if bad:
        raise HarnessError(f"{where}: label_map maps to '{bad[0]}', which is not a task label ({both}); "
                           f"use a task label or null")
    if not label_map and all(_GENERIC.match(name) for name in checkpoint):
        raise HarnessError(f"{where}: the checkpoint's labels are generic ({both}); say what they mean: {fix}")
    folded = {}
    for j, name in enumerate(task_labels):
        folded.setdefault(fold(name), []).append(j)
    targets, by = [], []
    for name in checkpoint:
        if name in label_map:
            value = label_map[name]
            targets.append(None if value is None else list(task_labels).index(value))
            by.append("label_map")
            continue
        matches = folded.get(fold(name), [])
        if len(matches) != 1:
            why = "matches no task label" if not matches else "matches several task labels"
            raise HarnessError(f"{where}: checkpoint label '{name}' {why} ({both}); {fix}, "
                               f"or map it to null to ignore it")
        targets.append(matches[0])
        by.append("name")
    missing = [t for j, t in enumerate(task_labels) if j not in targets]
    if missing:
        raise HarnessError(f"{where}: no checkpoint label maps to task label '{missing[0]}' ({both}); {fix}")
    return Alignment(tuple(checkpoint), tuple(task_labels), tuple(targets), tuple(by))
