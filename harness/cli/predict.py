"""`harness predict`."""
from __future__ import annotations
from harness.predict import FILE_FORMATS, LabelScore, Predictor, check_model_dir, check_output_path, check_text_count, read_input, read_metadata, write_output

import json
import sys
from pathlib import Path
from typing import NotRequired, TypedDict
from harness.errors import HarnessError


class PredictionLine(TypedDict):
    """One input's line of `harness predict --json`."""

    text: str
    text_pair: NotRequired[str]
    label: str
    confidence: float
    top_k: list[LabelScore]


# --------------------------------------------------------------------------- command line
def _print_result(texts: list[str], result: list[LabelScore], as_json: bool, top_k: int, stream) -> None:
    if as_json:
        payload = PredictionLine(text=texts[0], **({"text_pair": texts[1]} if len(texts) == 2 else {}),
                                 label=result[0]["label"], confidence=result[0]["score"], top_k=result)
        print(json.dumps(payload, ensure_ascii=False), file=stream)
    elif top_k <= 1:
        print(f"{result[0]['label']}\t{result[0]['score']:.4f}", file=stream)
    else:
        for item in result:
            print(f"{item['label']}\t{item['score']:.4f}", file=stream)


def cli_main(args) -> int:
    if args.top_k < 1:
        raise HarnessError("--top-k must be at least 1")
    if args.batch_size is not None and args.batch_size < 1:
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

    # Everything that can be checked without the model is checked before loading it.
    meta = read_metadata(folder)
    if args.input:
        columns = meta.get("text_columns")
        rows, texts, fields = read_input(Path(args.input), list(columns) if columns else None)
    else:
        check_text_count(meta, list(args.texts))
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the command's output is the predictions, not load reports
    hf_logging.disable_progress_bar()
    predictor = Predictor(folder, allow_pickle=getattr(args, "allow_pickle", False))
    if not args.input:
        result = predictor.predict([list(args.texts)], top_k=args.top_k)[0]
        _print_result(list(args.texts), result, args.json, args.top_k, sys.stdout)
        return 0

    if predictor.is_pair is None and len({len(t) for t in texts}) > 1:
        raise HarnessError(f"{args.input}: mixes single texts and pairs")
    results: list[list[LabelScore]] = []
    # one call: the rows are length-sorted together into batches, as the record's test scoring did
    results += predictor.predict(texts, top_k=args.top_k, batch_size=args.batch_size)
    if args.output:
        write_output(Path(args.output), rows, fields, results)
        print(f"predict: {len(rows)} row(s) -> {args.output}", file=sys.stderr)
    else:
        for row_texts, result in zip(texts, results):
            _print_result(row_texts, result, args.json, args.top_k, sys.stdout)
    return 0
