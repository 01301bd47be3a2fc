"""`harness predict MODEL_DIR`: classify texts with a model kept by `harness run --save-model`.

MODEL_DIR (RESULTS/<task>/<model>/model-seed-<k>/) holds a save_pretrained classifier and its
tokenizer, the label names in config.json `id2label`, and `harness.json`:
{"task", "labels", "text_columns", "max_length", "truncation_side", "model", "seed", "precision",
"eval_batch_size"}. A folder without harness.json,
or whose classification head is not in its weights (transformers would initialise it at random
and print random labels), is refused: it is not a fine-tuned classifier. Weights are loaded from
safetensors only, unless `--allow-pickle` opts in to pytorch_model.bin.

Output: `label<TAB>confidence` (softmax probability), or the K best labels with --top-k K, or
JSON with --json. `--input FILE` (.jsonl or .csv) predicts a file in batches; `--output FILE`
(.jsonl or .csv) writes the input rows plus `label`, `confidence` (and `top_k` in .jsonl).
Inference follows the record's test scoring (harness.train.scoring.predict): the precision and
inference batch size harness.json names, length-sorted batches, truncation at max_length (never
more than the model's positions); remote code is never trusted.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from harness.errors import HarnessError
from harness.files import atomic_write_text, check_output_file, read_json, read_text
from harness.planning.identity import local_weights_format
from harness.data.readers import Row, json_lines

if TYPE_CHECKING:
    from harness.train.finetune import SavedModelMeta


class LabelScore(TypedDict):
    """One of an input's best labels and its softmax probability."""

    label: str
    score: float


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
FILE_FORMATS = (".jsonl", ".csv")


# --------------------------------------------------------------------------- the model folder
# a tokenizer is one of these (tokenizer.json, or a slow tokenizer's vocabulary); without any,
# transformers builds a few-token tokenizer from the config and the model predicts garbage
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model", "spm.model")


def check_model_dir(folder: Path) -> None:
    hint = "save one with 'harness run --save-model' (it keeps RESULTS/<task>/<model>/model-seed-<k>/)"
    if not folder.is_dir():
        raise HarnessError(f"model folder {folder} does not exist; {hint}")
    if not (folder / "config.json").is_file() or not any((folder / name).is_file() for name in WEIGHT_FILES):
        saved = sorted(p.name for p in folder.glob("model-seed-*") if p.is_dir())
        near = f" (did you mean {folder / saved[0]}?)" if saved else ""
        raise HarnessError(f"{folder} holds no saved model (config.json and weights){near}; {hint}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise HarnessError(f"{folder} holds no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...): predictions "
                           f"would be garbage; copy the tokenizer the model was trained with into it, or {hint}")
    _check_safetensors(folder)


def _check_safetensors(folder: Path) -> None:
    """A damaged weights file (truncated by a full disk, overwritten) is one line naming it, not
    the loader's raw error halfway through loading."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as handle:
                names = list(handle.keys())
                if names:
                    handle.get_slice(names[-1])
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise HarnessError(f"{path}: not a readable safetensors file ({detail}); "
                               "save the model again with 'harness run --save-model --force'") from None
        if path.stat().st_size < 8:
            raise HarnessError(f"{path}: not a readable safetensors file (empty); save the model again")


def read_metadata(folder: Path) -> SavedModelMeta:
    path = folder / "harness.json"
    if not path.is_file():
        raise HarnessError(
            f"{folder} has no harness.json, so it is not a classifier fine-tuned by the harness (a base model "
            "would print random labels); fine-tune one with 'harness run --save-model' and pass its model-seed-<k>/ folder"
        )
    meta = read_json(path, fix="save the model again with 'harness run --save-model --force'")
    if not isinstance(meta, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return meta


def check_text_count(meta: SavedModelMeta, texts: list[str]) -> None:
    """One text for a single-text task, two for a pair task (one or two when harness.json is absent)."""
    n = len(texts)
    for i, text in enumerate(texts, 1):
        if not str(text).strip():
            raise HarnessError(f"text {i} of {n} is empty; give a non-empty text to classify")
    columns = meta.get("text_columns")
    if not columns:
        if n not in (1, 2):
            raise HarnessError(f"give one text, or two for a pair task (got {n})")
        return
    if n != len(columns):
        task = meta.get("task", "the saved model's task")
        kind = "a pair task: give two texts" if len(columns) == 2 else "a single-text task: give one text"
        raise HarnessError(f"{task} is {kind} ({', '.join(columns)}); got {n}")


class Predictor:
    """A loaded model folder: its tokenizer and classifier, label names, text columns, maximum
    length, and the scoring rule of its record (precision, inference batch size, length-sorted
    batches): predicting the test rows reproduces the record's test predictions."""

    def __init__(self, folder: str | Path, allow_pickle: bool = False):
        self.folder = Path(folder)
        check_model_dir(self.folder)
        self.meta = read_metadata(self.folder)
        self.weights = local_weights_format(
            self.folder, allow_pickle, "predict", "--allow-pickle", "AutoModelForSequenceClassification"
        )
        import torch
        from transformers import DataCollatorWithPadding

        tokenizer, model = _load(self.folder, allow_pickle)
        model.eval()
        labels = self.meta.get("labels")
        if labels:
            if len(labels) != model.config.num_labels:
                raise HarnessError(
                    f"{self.folder}/harness.json lists {len(labels)} labels but the model has {model.config.num_labels} outputs"
                )
            model.config.id2label = dict(enumerate(labels))
            model.config.label2id = {name: i for i, name in enumerate(labels)}
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        columns = self.meta.get("text_columns")
        self.text_columns: list[str] | None = list(columns) if columns else None
        self.max_length = _max_length(self.meta, tokenizer, model)
        tokenizer.truncation_side = self.meta.get("truncation_side", tokenizer.truncation_side)  # cut as in training
        self.precision = str(self.meta.get("precision", "fp32"))  # the record's scoring precision
        self.batch_size = int(self.meta.get("eval_batch_size") or 32)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.precision == "fp16" and device.type == "cpu":
            self.precision = "fp32"  # fp16 scoring needs CUDA
        self.tokenizer, self.model = tokenizer, model.to(device)
        self.collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if device.type == "cuda" else None)

    @property
    def is_pair(self) -> bool | None:
        """True / False from harness.json; None when unknown (one or two texts accepted)."""
        return None if self.text_columns is None else len(self.text_columns) == 2

    def check_texts(self, texts: list[str]) -> None:
        check_text_count(self.meta, texts)

    def logits(self, inputs: list[list[str]], batch_size: int | None = None):
        """The logits of every input, scored as the record scored its test split: the same
        tokenization, precision and length-sorted batches of the record's inference batch size."""
        from datasets import Dataset

        from harness.train.scoring import predict

        columns = list(zip(*inputs))
        encoded = self.tokenizer(*[list(c) for c in columns], truncation="longest_first" if len(columns) == 2 else True,
                                 max_length=self.max_length)
        rows = {k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded}
        rows["length"] = [len(ids) for ids in encoded["input_ids"]]
        out = predict(self.model, Dataset.from_dict(rows), self.collator, batch_size or self.batch_size, self.precision)
        return out["logits"]

    def predict(self, inputs: list[list[str]], top_k: int = 1, batch_size: int | None = None) -> list[list[LabelScore]]:
        """For each input (one or two texts) the `top_k` best labels with their softmax probabilities, best first."""
        import numpy as np

        if not inputs:
            return []
        top_k = max(1, min(int(top_k), len(self.labels)))
        logits = self.logits(inputs, batch_size)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        out = []
        for row in probabilities:
            best = np.argsort(-row, kind="stable")[:top_k]
            out.append([LabelScore(label=self.labels[int(i)], score=float(row[i])) for i in best])
        return out


def _max_length(meta: SavedModelMeta, tokenizer, model) -> int:
    """harness.json's max_length, never more than the model's positions (an older folder may say
    more); without one, the tokenizer's limit or the positions."""
    from harness.planning.inspect import max_positions

    positions = max_positions(model.config.to_dict())
    max_length = meta.get("max_length")
    if not max_length or not isinstance(max_length, int):
        limit = getattr(tokenizer, "model_max_length", None)
        max_length = limit if limit and limit < 100_000 else (positions or 512)
    return int(min(max_length, positions) if positions else max_length)


def _load(folder: Path, allow_pickle: bool):
    """Tokenizer and classifier of a saved folder, local files only. A loader failure (a pickle
    the safe unpickler refuses, a damaged file) and a head missing from the weights are errors."""
    import pickle

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, output_loading_info=True,
            use_safetensors=None if allow_pickle else True,
        )
    except ImportError as exc:  # a tokenizer library that is not installed (sacremoses, sentencepiece)
        detail = str(exc).strip().splitlines() or [type(exc).__name__]
        raise HarnessError(f"cannot load the tokenizer in {folder}: {detail[0][:300]}") from None
    except (OSError, ValueError, RuntimeError, KeyError, EOFError, pickle.UnpicklingError) as exc:
        if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in str(exc):
            raise HarnessError(
                f"cannot load the model in {folder}: its pickle holds objects that torch's safe loader refuses "
                "(it could run code); do not load it unless you trust its source, and then convert it to safetensors"
            ) from None
        detail = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines() or [type(exc).__name__]
        raise HarnessError(f"cannot load the model in {folder}: {detail[0][:300]}") from None
    mismatched = {k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys") or ()}
    fresh = sorted(set(info.get("missing_keys") or ()) | mismatched)  # what transformers initialised
    if fresh:
        raise HarnessError(
            f"{folder}: the weights lack {', '.join(fresh[:4])}{' ...' if len(fresh) > 4 else ''}, which transformers would "
            "initialise at random: not a fine-tuned classifier; predict with a folder kept by 'harness run --save-model'"
        )
    return tokenizer, model


# --------------------------------------------------------------------------- files
def _texts_of_row(row: Row, columns: list[str] | None, where: str) -> list[str]:
    candidates = []
    if columns:
        candidates.append(columns)
        candidates.append(["text", "text_pair"][: len(columns)])
    else:
        candidates += [["text", "text_pair"], ["text"]]
    for keys in candidates:
        if all(row.get(k) is not None and str(row[k]).strip() for k in keys):
            return [str(row[k]) for k in keys]
    empty = [k for keys in candidates for k in keys if row.get(k) is not None and not str(row[k]).strip()]
    if empty:
        raise HarnessError(f"{where}: the field '{empty[0]}' is empty; give a text to classify or drop the row")
    wanted = " and ".join(f"'{k}'" for k in (columns or ["text"]))
    alias = " (or 'text' / 'text_pair')" if columns and columns != ["text", "text_pair"][: len(columns)] else ""
    raise HarnessError(f"{where}: needs the field(s) {wanted}{alias}; found {sorted(row)}")


def read_input(path: Path, columns: list[str] | None) -> tuple[list[Row], list[list[str]], list[str]]:
    """(rows, texts per row, field names in order) of a .jsonl or .csv file."""
    if not path.is_file():
        raise HarnessError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    rows: list[Row] = []
    fields: list[str] = []
    if suffix == ".jsonl":
        where = []
        for number, row in json_lines(path):
            rows.append(row)
            where.append(f"{path}: line {number}")
            fields += [k for k in row if k not in fields]
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(read_text(path, "input file"), newline=""))
        where = []
        try:
            for row in reader:
                rows.append(dict(row))
                where.append(f"{path}: line {reader.line_num}")
        except csv.Error as exc:
            raise HarnessError(f"{path}, line {reader.line_num}: cannot parse the row ({exc})") from None
        fields = list(reader.fieldnames or [])
    else:
        raise HarnessError(f"input file {path}: unknown extension '{path.suffix}' (use .jsonl or .csv)")
    if not rows:
        raise HarnessError(f"input file {path} holds no rows to predict; give a file with at least one text")
    texts = [_texts_of_row(row, columns, w) for row, w in zip(rows, where)]
    return rows, texts, fields


def check_output_path(path: Path) -> None:
    check_output_file(path, "--output")
    if path.suffix.lower() not in FILE_FORMATS:
        raise HarnessError(f"output file {path}: unknown extension '{path.suffix}' (use .jsonl or .csv)")


def write_output(path: Path, rows: list[Row], fields: list[str], results: list[list[LabelScore]]) -> None:
    """Write the predictions atomically: an interrupted or failed write leaves no half file."""
    if path.suffix.lower() == ".jsonl":
        lines = [
            json.dumps({**row, "label": result[0]["label"], "confidence": result[0]["score"], "top_k": result},
                       ensure_ascii=False) + "\n"
            for row, result in zip(rows, results)
        ]
        atomic_write_text(path, "".join(lines))
        return
    columns = fields + [c for c in ("label", "confidence") if c not in fields]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row, result in zip(rows, results):
        writer.writerow({**row, "label": result[0]["label"], "confidence": f"{result[0]['score']:.6f}"})
    atomic_write_text(path, buffer.getvalue())


