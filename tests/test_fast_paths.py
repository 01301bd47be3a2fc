"""The fast paths of harness.train give the same answers as the plain paths (no timing here).

- length-sorted inference returns, in input order, the predictions of unsorted inference;
- dynamic padding gives the logits of padding every row to max_length;
- length-grouped training batches cover every training row exactly once per epoch;
- bf16 inference runs a bf16 copy and leaves the model's fp32 weights untouched.
"""
from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers import NEGATIVE, POSITIVE


def _sentences(n: int, seed: int = 0) -> list[dict]:
    """Rows of very different lengths: 1 to 6 sentences of the test corpus joined."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        pool = POSITIVE if label else NEGATIVE
        text = " and ".join(rng.choice(pool) for _ in range(rng.choice([1, 1, 1, 2, 3, 6])))
        rows.append({"sentence": text, "label": label})
    return rows


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    set_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    model.eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def _encoded(tokenizer, n: int, seed: int = 0):
    from datasets import Dataset

    from harness.data.encoding import tokenize_split

    data = Dataset.from_dict({k: [r[k] for r in _sentences(n, seed)] for k in ("sentence", "label")})
    return tokenize_split(data, tokenizer, ["sentence"], 128, f"test-fast-paths-{seed}")


def test_length_sorted_inference_keeps_input_order(tiny):
    from transformers import DataCollatorWithPadding

    from harness.train.scoring import predict

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 70)
    lengths = np.asarray(encoded["length"])
    assert len(set(lengths.tolist())) > 5  # the rows really differ in length
    assert not np.all(np.diff(lengths) <= 0)  # and are not already sorted
    collator = DataCollatorWithPadding(tokenizer)
    plain = predict(model, encoded, collator, 8, "fp32", sort_by_length=False)
    fast = predict(model, encoded, collator, 8, "fp32", sort_by_length=True)
    assert fast["logits"].argmax(-1).tolist() == plain["logits"].argmax(-1).tolist()
    np.testing.assert_allclose(fast["logits"], plain["logits"], rtol=1e-4, atol=1e-5)
    assert fast["real_tokens"] == plain["real_tokens"] == int(lengths.sum())
    assert fast["padded_tokens"] <= plain["padded_tokens"]


def test_dynamic_padding_gives_the_logits_of_max_length_padding(tiny):
    from transformers import DataCollatorWithPadding

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 24, seed=1)
    encoded = encoded.select_columns([c for c in encoded.column_names if c in ("input_ids", "attention_mask", "token_type_ids")])
    rows = [encoded[i] for i in range(len(encoded))]
    dynamic = DataCollatorWithPadding(tokenizer)(rows)
    full = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=128)(rows)
    assert dynamic["input_ids"].shape[1] < full["input_ids"].shape[1] == 128
    with torch.inference_mode():
        a = model(**dynamic).logits
        b = model(**full).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_length_grouped_batches_cover_every_row_once_per_epoch(tiny, tmp_path):
    from transformers import DataCollatorWithPadding, Trainer

    from harness.spec.recipe import Recipe
    from harness.train.finetune import _training_args

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 203, seed=2)  # not a multiple of the batch size
    from harness.device import choose_device

    run = SimpleNamespace(recipe=Recipe(batch_size=16, max_steps=None), precision="fp32", seed=5,
                          device=choose_device("cpu"), checkpoint=False)
    args = _training_args(run, str(tmp_path), 16, 1)
    assert args.train_sampling_strategy == "group_by_length"
    trainer = Trainer(model=model, args=args, train_dataset=encoded, eval_dataset=encoded, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    sampler = trainer._get_train_sampler()
    assert type(sampler).__name__ == "LengthGroupedSampler"
    lengths = np.asarray(encoded["length"])
    for epoch in range(2):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        order = list(iter(sampler))
        assert sorted(order) == list(range(len(encoded)))  # every row, exactly once
        # grouped: the padding of batches of 16 in this order is far below that of the input order
        batches = [lengths[order[i : i + 16]] for i in range(0, len(order), 16)]
        unsorted = [lengths[i : i + 16] for i in range(0, len(lengths), 16)]
        assert sum(b.max() * len(b) for b in batches) < sum(b.max() * len(b) for b in unsorted)
    rows = sum(len(batch["input_ids"]) for batch in trainer.get_train_dataloader())
    assert rows == len(encoded)


def test_bf16_inference_uses_a_copy_and_agrees(tiny):
    from transformers import DataCollatorWithPadding

    from harness.train.scoring import inference_weights, predict

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 40, seed=3)
    collator = DataCollatorWithPadding(tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32 = predict(model, encoded, collator, 16, "fp32")
    bf16 = predict(model, encoded, collator, 16, "bf16")
    assert bf16["weights"] == inference_weights("bf16", "cpu") == "bf16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    np.testing.assert_allclose(bf16["logits"], fp32["logits"], atol=0.1)
    # a random tiny model has near-tied logits; where fp32 is clear, bf16 agrees
    margin = np.abs(fp32["logits"][:, 1] - fp32["logits"][:, 0])
    clear = margin > 0.05
    assert (bf16["logits"].argmax(-1)[clear] == fp32["logits"].argmax(-1)[clear]).all()


def test_an_untimed_pass_skips_the_warm_up_batch_and_gives_the_same_logits(tiny):
    from transformers import DataCollatorWithPadding

    from harness.train.scoring import predict

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 20, seed=5)
    collator = DataCollatorWithPadding(tokenizer)
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape[0]),
                                           with_kwargs=True)
    try:
        timed = predict(model, encoded, collator, 8, "fp32")
        warm = len(calls)
        untimed = predict(model, encoded, collator, 8, "fp32", warmup=False)
    finally:
        hook.remove()
    assert warm == 4 and calls[:warm] == [8, 8, 8, 4]  # the warm-up batch, then 3 batches of 20 rows
    assert calls[warm:] == [8, 8, 4]
    np.testing.assert_array_equal(untimed["logits"], timed["logits"])


def test_a_scoring_pass_that_fits_collects_no_garbage_and_one_out_of_memory_halves_the_batch(tiny):
    """accelerate's find_executable_batch_size collects garbage before every call (about 0.2 s of
    CPU in a training process, once per validation-curve point); EvalBatch goes to it only after
    an out-of-memory error."""
    import gc

    from transformers import DataCollatorWithPadding

    from harness.train.scoring import EvalBatch

    model, tokenizer = tiny
    encoded = _encoded(tokenizer, 20, seed=6)
    collator = DataCollatorWithPadding(tokenizer)
    full = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    def too_big(module, args, kwargs):
        if kwargs["input_ids"].shape[0] > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    batch = EvalBatch(16, retries=3)
    gc.disable()  # only explicit collections are counted
    gc.callbacks.append(count)
    try:
        fits = batch.predict(model, encoded, collator, "fp32", True)
        assert full == [] and batch.size == 16 and batch.fallback is None
        hook = model.register_forward_pre_hook(too_big, with_kwargs=True)
        try:
            halved = batch.predict(model, encoded, collator, "fp32", True)
        finally:
            hook.remove()
    finally:
        gc.callbacks.remove(count)
        gc.enable()
    assert full and batch.size == 4 and batch.fallback == "out of memory while scoring: eval batch 16 -> 4"
    np.testing.assert_allclose(halved["logits"], fits["logits"], rtol=1e-4, atol=1e-5)


def test_a_kept_bf16_copy_refreshed_from_changed_weights_scores_as_a_fresh_copy(tiny_model_dir):
    import copy

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from harness.train.scoring import Bf16Copy, predict

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    encoded = _encoded(tokenizer, 24, seed=7)
    collator = DataCollatorWithPadding(tokenizer)
    copies = Bf16Copy()
    first = predict(model, encoded, collator, 8, "bf16", copies=copies)
    kept = copies.copy
    with torch.no_grad():  # a training step's worth of change
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    refreshed = predict(model, encoded, collator, 8, "bf16", copies=copies)
    fresh = predict(model, encoded, collator, 8, "bf16")
    assert copies.copy is kept  # refreshed in place, not made again
    np.testing.assert_array_equal(refreshed["logits"], fresh["logits"])
    assert not np.array_equal(refreshed["logits"], first["logits"])
    other = copy.deepcopy(model)  # another model gets its own copy
    predict(other, encoded, collator, 8, "bf16", copies=copies)
    assert copies.copy is not kept and copies.source is other
