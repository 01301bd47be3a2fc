"""Rows -> model inputs: fixed subsets, the scored test rows' fingerprint, cached tokenization
with a count of truncated examples."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


# --------------------------------------------------------------------------- tokenization
def _cache_root() -> Path:
    from harness.env import cache_root

    return Path(cache_root()) / "tokenized"


def subset(dataset, limit: int | None, seed: int = 0):
    """A fixed (seed 0, independent of the training seed) random subset of `limit` rows."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(limit))


def test_fingerprint(dataset, spec) -> str:
    """A digest of exactly the test rows a cell scores (texts, gold labels, label names): two
    records with the same one were scored on the same examples, whatever data they trained on."""
    digest = hashlib.sha256(json.dumps({"labels": list(spec.labels), "text": list(spec.text)}).encode())
    columns = dataset.select_columns([*spec.text, "label"]).to_dict()
    for column in [*spec.text, "label"]:
        digest.update(column.encode())
        digest.update(json.dumps(columns[column], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def tokenize_split(dataset, tokenizer, text_columns: list[str], max_length: int, key: str, truncation_side: str = "right"):
    """Tokenize once per data fingerprint, tokenizer, max_length and truncation side; cached on disk by datasets."""
    return encode_split(dataset, tokenizer, text_columns, max_length, key, truncation_side)[0]


def encode_split(dataset, tokenizer, text_columns: list[str], max_length: int, key: str, truncation_side: str = "right"):
    """`tokenize_split` and how many examples were longer than max_length (so cut at `truncation_side`)."""
    tokenizer.truncation_side = truncation_side

    def encode(batch):
        texts = [batch[c] for c in text_columns]
        encoded = tokenizer(*texts, truncation="longest_first" if len(texts) == 2 else True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        full = tokenizer(*texts, truncation=False, return_attention_mask=False, return_token_type_ids=False)
        encoded["truncated"] = [len(ids) > max_length for ids in full["input_ids"]]
        return encoded

    identity = f"{key}|{dataset._fingerprint}|{max_length}|{truncation_side}|{text_columns}|counts-truncated"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    cache = _cache_root() / f"{digest}.arrow"
    cache.parent.mkdir(parents=True, exist_ok=True)
    out = dataset.map(
        encode,
        batched=True,
        remove_columns=list(text_columns),
        cache_file_name=str(cache),
        new_fingerprint=digest,
        load_from_cache_file=True,
        desc=None,
    )
    truncated = int(sum(out["truncated"]))
    return out.remove_columns(["truncated"]).rename_column("label", "labels"), truncated
