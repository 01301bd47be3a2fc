"""Evaluate one checkpoint as published (`init: finetuned`) on one task: nothing is trained.

Read top to bottom: tokenize validation and test (cached) -> load the checkpoint with its own
classification head -> score both splits over the whole split -> map the checkpoint's outputs to
the task's labels (the alignment planned in harness.planning.labels) -> latency and throughput ->
the record's body, with the same scoring code as a fine-tuned cell (harness.train.scoring).
"""
from __future__ import annotations

from types import SimpleNamespace
import numpy as np

from harness.data.encoding import encode_split, subset, test_fingerprint
from harness.device import reset_peak_memory
from harness.planning.labels import Alignment
from harness.records.schema import DataSummary, EvaluationFacts, LabelAlignment
from harness.train.finetune import CellRun
from harness.train.result import CellResult, cell_throughput, score_splits
from harness.train.model import count_parameters, load_tokenizer
from harness.train.scoring import EvalBatch, Predicted, latency


EVALUATION_FACTS = EvaluationFacts(
    trained=False,
    head="the checkpoint's own classification head and id2label",
    seed_variance=0.0,
    variance="fixed weights, deterministic scoring: there is no seed (training) variance; intervals and "
             "comparisons count the test-example variance only, which is all the noise there is",
)


def load_classifier(run: CellRun):
    """The checkpoint with its own head and id2label (safetensors unless the spec opted in)."""
    from transformers import AutoModelForSequenceClassification

    identity = run.identity
    model = AutoModelForSequenceClassification.from_pretrained(
        identity.location, revision=identity.revision, trust_remote_code=False,
        use_safetensors=None if "pickle" in identity.weights else True,
    )
    return model.to(run.device.torch_device)


def task_scores(logits: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Checkpoint logits (n, checkpoint labels) -> scores (n, task labels): each task label scores
    the largest logit among the checkpoint labels mapped to it, so the argmax is the most probable
    mapped checkpoint label; labels mapped to null never win."""
    out = np.full((logits.shape[0], len(alignment.task_labels)), -np.inf, dtype=np.float32)
    for i, target in enumerate(alignment.targets):
        if target is not None:
            out[:, target] = np.maximum(out[:, target], logits[:, i])
    return out


def _mapped(prediction: Predicted, alignment: Alignment) -> Predicted:
    return {**prediction, "logits": task_scores(prediction["logits"], alignment)}


def evaluate_cell(run: CellRun, alignment: Alignment) -> CellResult:
    """Score the checkpoint on the whole validation and test splits; returns what it measured."""
    from transformers import DataCollatorWithPadding
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    spec, recipe = run.data.spec, run.recipe
    tokenizer = load_tokenizer(run.identity)
    key = f"{run.identity.content_hash or run.identity.source}@{run.identity.revision}"
    splits = {name: subset(run.data.splits[name], recipe.max_eval_samples) for name in ("validation", "test")}
    encoded, truncated = {}, {}
    for name, ds in splits.items():
        encoded[name], truncated[name] = encode_split(
            ds, tokenizer, list(spec.text), recipe.max_length, key, recipe.truncation_side)
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if run.device.type == "cuda" else None)
    reset_peak_memory()
    model = load_classifier(run)
    if model.config.num_labels != len(alignment.checkpoint_labels):
        raise RuntimeError(f"the loaded head has {model.config.num_labels} outputs, the planned alignment "
                           f"{len(alignment.checkpoint_labels)} checkpoint labels")
    eval_batch = EvalBatch(recipe.eval_batch_size, recipe.oom_retries)
    val, test = (eval_batch.predict(model, encoded[name], collator, run.precision, recipe.sort_inference_by_length)
                 for name in ("validation", "test"))
    timed_one = latency(model, encoded["test"], collator, run.precision, run.device.name)
    scored = score_splits(spec.labels, run.seed, encoded, _mapped(val, alignment), _mapped(test, alignment))
    nothing_trained = SimpleNamespace(seconds=0.0, real_tokens=0, padded_tokens=0, samples=0)
    throughput = cell_throughput(
        nothing_trained, scored, count_parameters(model), run.precision, model.config.to_dict(),
        {"eval_batch_size": eval_batch.size}, latency=timed_one,
        definition=("nothing trained (evaluated as published); eval: the test split after one warm-up batch; "
                    "tokens/s counts real (non-padding) tokens; eval MFU = forward FLOPs per token (per family, "
                    "harness.train.flops) x real tokens/s / peak FLOP/s"))
    return CellResult(
        labels=list(spec.labels), metrics=scored.metrics, predictions=scored.predictions,
        references=scored.references, probabilities=scored.probabilities,
        test_fingerprint=test_fingerprint(splits["test"], spec),
        alignment=LabelAlignment.model_validate(alignment.as_record()), evaluation=EVALUATION_FACTS,
        data=DataSummary.model_validate({
            "max_length": recipe.max_length, "truncation_side": recipe.truncation_side, "truncated": truncated,
            "rows": {name: len(ds) for name, ds in encoded.items()},
            **({"dropped_empty": dict(run.data.dropped_empty)} if spec.drop_empty else {})}),
        throughput=throughput,
        fallbacks=[eval_batch.fallback] if eval_batch.fallback else [],
    )
