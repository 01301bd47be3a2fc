"""`harness predict MODEL_DIR`: classify texts with a model kept by `harness run --save-model`.

MODEL_DIR (RESULTS/<task>/<model>/model-seed-<k>/) holds a save_pretrained classifier and its
tokenizer, the label names in config.json `id2label`, and `harness.json`:
{"task", "labels", "text_columns", "max_length", "truncation_side", "model", "seed"}. Without harness.json the
label names come from config.json and one or two texts are accepted.

Output: `label<TAB>confidence` (softmax probability), or the K best labels with --top-k K, or
JSON with --json. `--input FILE` (.jsonl or .csv) predicts a file in batches; `--output FILE`
(.jsonl or .csv) writes the input rows plus `label`, `confidence` (and `top_k` in .jsonl).
Inference goes through transformers' text-classification pipeline with truncation on; remote
code is never trusted.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from .errors import HarnessError
from .readers import json_lines

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
FILE_FORMATS = (".jsonl", ".csv")


# --------------------------------------------------------------------------- the model folder
def check_model_dir(folder: Path) -> None:
    hint = "save one with 'harness run --save-model' (it keeps RESULTS/<task>/<model>/model-seed-<k>/)"
    if not folder.is_dir():
        raise HarnessError(f"model folder {folder} does not exist; {hint}")
    if not (folder / "config.json").is_file() or not any((folder / name).is_file() for name in WEIGHT_FILES):
        saved = sorted(p.name for p in folder.glob("model-seed-*") if p.is_dir())
        near = f" (did you mean {folder / saved[0]}?)" if saved else ""
        raise HarnessError(f"{folder} holds no saved model (config.json and weights){near}; {hint}")


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / "harness.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return meta


def check_text_count(meta: dict[str, Any], texts: list[str]) -> None:
    """One text for a single-text task, two for a pair task (one or two when harness.json is absent)."""
    n = len(texts)
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
    """A loaded model folder: its pipeline, label names, text columns and maximum length."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        check_model_dir(self.folder)
        self.meta = read_metadata(self.folder)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True, trust_remote_code=False)
            model = AutoModelForSequenceClassification.from_pretrained(
                self.folder, local_files_only=True, trust_remote_code=False
            )
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot load the model in {self.folder}: {str(exc).splitlines()[0]}") from None
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
        max_length = self.meta.get("max_length")
        if not max_length:
            limit = getattr(tokenizer, "model_max_length", None)
            positions = getattr(model.config, "max_position_embeddings", None)
            max_length = limit if limit and limit < 100_000 else (positions or 512)
        self.max_length = int(max_length)
        tokenizer.truncation_side = self.meta.get("truncation_side", tokenizer.truncation_side)  # cut as in training
        self.pipe = pipeline(
            "text-classification", model=model, tokenizer=tokenizer,
            device=0 if torch.cuda.is_available() else -1,
        )

    @property
    def is_pair(self) -> bool | None:
        """True / False from harness.json; None when unknown (one or two texts accepted)."""
        return None if self.text_columns is None else len(self.text_columns) == 2

    def check_texts(self, texts: list[str]) -> None:
        check_text_count(self.meta, texts)

    @staticmethod
    def as_input(texts: list[str]) -> str | dict[str, str]:
        return texts[0] if len(texts) == 1 else {"text": texts[0], "text_pair": texts[1]}

    def predict(self, inputs: list[list[str]], top_k: int = 1, batch_size: int = 32) -> list[list[dict[str, Any]]]:
        """For each input (one or two texts) the `top_k` best labels with their softmax probabilities, best first."""
        if not inputs:
            return []
        top_k = max(1, min(int(top_k), len(self.labels)))
        outputs = self.pipe(
            [self.as_input(texts) for texts in inputs], batch_size=batch_size, top_k=top_k,
            function_to_apply="softmax", truncation=True, max_length=self.max_length,
        )
        return [[{"label": o["label"], "score": float(o["score"])} for o in out] for out in outputs]


# --------------------------------------------------------------------------- files
def _texts_of_row(row: dict[str, Any], columns: list[str] | None, where: str) -> list[str]:
    candidates = []
    if columns:
        candidates.append(columns)
        candidates.append(["text", "text_pair"][: len(columns)])
    else:
        candidates += [["text", "text_pair"], ["text"]]
    for keys in candidates:
        if all(row.get(k) not in (None, "") for k in keys):
            return [str(row[k]) for k in keys]
    wanted = " and ".join(f"'{k}'" for k in (columns or ["text"]))
    alias = " (or 'text' / 'text_pair')" if columns and columns != ["text", "text_pair"][: len(columns)] else ""
    raise HarnessError(f"{where}: needs the field(s) {wanted}{alias}; found {sorted(row)}")


def read_input(path: Path, columns: list[str] | None) -> tuple[list[dict[str, Any]], list[list[str]], list[str]]:
    """(rows, texts per row, field names in order) of a .jsonl or .csv file."""
    if not path.is_file():
        raise HarnessError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]] = []
    fields: list[str] = []
    if suffix == ".jsonl":
        where = []
        for number, row in json_lines(path):
            rows.append(row)
            where.append(f"{path}: line {number}")
            fields += [k for k in row if k not in fields]
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [dict(row) for row in reader]
            fields = list(reader.fieldnames or [])
        where = [f"{path}: line {i + 2}" for i in range(len(rows))]
    else:
        raise HarnessError(f"input file {path}: unknown extension '{path.suffix}' (use .jsonl or .csv)")
    texts = [_texts_of_row(row, columns, w) for row, w in zip(rows, where)]
    return rows, texts, fields


def check_output_path(path: Path) -> None:
    if path.suffix.lower() not in FILE_FORMATS:
        raise HarnessError(f"output file {path}: unknown extension '{path.suffix}' (use .jsonl or .csv)")


def write_output(path: Path, rows: list[dict[str, Any]], fields: list[str], results: list[list[dict[str, Any]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".jsonl":
        with open(path, "w", encoding="utf-8") as handle:
            for row, result in zip(rows, results):
                out = {**row, "label": result[0]["label"], "confidence": result[0]["score"], "top_k": result}
                handle.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    columns = fields + [c for c in ("label", "confidence") if c not in fields]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row, result in zip(rows, results):
            writer.writerow({**row, "label": result[0]["label"], "confidence": f"{result[0]['score']:.6f}"})


# --------------------------------------------------------------------------- command line
def _print_result(texts: list[str], result: list[dict[str, Any]], as_json: bool, top_k: int, stream) -> None:
    if as_json:
        payload: dict[str, Any] = {"text": texts[0]}
        if len(texts) == 2:
            payload["text_pair"] = texts[1]
        payload.update(label=result[0]["label"], confidence=result[0]["score"], top_k=result)
        print(json.dumps(payload, ensure_ascii=False), file=stream)
    elif top_k <= 1:
        print(f"{result[0]['label']}\t{result[0]['score']:.4f}", file=stream)
    else:
        for item in result:
            print(f"{item['label']}\t{item['score']:.4f}", file=stream)


def _batched(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


def cli_main(args) -> int:
    if args.top_k < 1:
        raise HarnessError("--top-k must be at least 1")
    if args.batch_size < 1:
        raise HarnessError("--batch-size must be at least 1")
    if args.input and args.texts:
        raise HarnessError("give texts on the command line or --input FILE, not both")
    if args.output and not args.input:
        raise HarnessError("--output needs --input FILE")
    if args.output:
        check_output_path(Path(args.output))
    folder = Path(args.model_dir)
    check_model_dir(folder)
    if args.input:
        input_path = Path(args.input)
        if not input_path.is_file():
            raise HarnessError(f"input file {input_path} does not exist")
        if input_path.suffix.lower() not in FILE_FORMATS:
            raise HarnessError(f"input file {input_path}: unknown extension '{input_path.suffix}' (use .jsonl or .csv)")
    elif not args.texts:
        raise HarnessError("give a text to classify (two for a pair task), or --input FILE")

    if not args.input:
        check_text_count(read_metadata(folder), list(args.texts))  # before loading the model
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the command's output is the predictions, not load reports
    hf_logging.disable_progress_bar()
    predictor = Predictor(folder)
    if not args.input:
        result = predictor.predict([list(args.texts)], top_k=args.top_k, batch_size=1)[0]
        _print_result(list(args.texts), result, args.json, args.top_k, sys.stdout)
        return 0

    rows, texts, fields = read_input(Path(args.input), predictor.text_columns)
    if predictor.is_pair is None and len({len(t) for t in texts}) > 1:
        raise HarnessError(f"{args.input}: mixes single texts and pairs")
    results: list[list[dict[str, Any]]] = []
    for chunk in _batched(texts, args.batch_size):
        results += predictor.predict(chunk, top_k=args.top_k, batch_size=args.batch_size)
    if args.output:
        write_output(Path(args.output), rows, fields, results)
        print(f"predict: {len(rows)} row(s) -> {args.output}", file=sys.stderr)
    else:
        for row_texts, result in zip(texts, results):
            _print_result(row_texts, result, args.json, args.top_k, sys.stdout)
    return 0
