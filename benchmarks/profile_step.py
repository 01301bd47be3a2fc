"""One MiniLM training step, timed in parts and profiled: where a CPU step's time goes.

Calls transformers and torch directly (no Trainer): forward under autocast (bf16) or not
(fp32), backward, clip_grad_norm_, fused AdamW, zero_grad(set_to_none=True), on a fixed batch
of random token ids. Prints the median forward / backward / optimizer seconds, page faults per
step and, with --profile, the most expensive operators by input shape.

    python benchmarks/profile_step.py --precision fp32
    python benchmarks/profile_step.py --precision bf16 --profile
    python benchmarks/profile_step.py --precision bf16 --sparse-embedding-grad --keep-heap
"""
from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time
from typing import Any


def sparse_embedding_grad(model) -> bool:
    """Compute the word-embedding gradient sparsely, into one dense buffer kept between steps.

    The dense backward of an embedding allocates and zero-fills a fresh vocabulary x hidden
    gradient every step (30522 x 384 floats for MiniLM, for the ~600 rows a batch touches), and
    the Trainer frees it again with zero_grad(set_to_none=True); on CPU that churn costs page
    faults and memory traffic on every step. With `sparse=True` the backward yields only the
    touched rows, and a post-accumulate hook adds them into a persistent dense buffer that
    becomes `.grad`: clipping, weight decay and AdamW see the same dense gradient as before
    (same values up to the order of float additions). Returns whether it was applied."""
    import torch

    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if not isinstance(embedding, torch.nn.Embedding) or embedding.sparse or not embedding.weight.requires_grad:
        return False
    buffer: dict[str, Any] = {}

    def densify(param) -> None:
        grad = param.grad
        if grad is None or not grad.is_sparse:
            return
        dense = buffer.get("grad")
        if dense is None or dense.shape != param.shape or dense.dtype != grad.dtype:
            dense = buffer["grad"] = torch.zeros_like(param, dtype=grad.dtype)
        else:
            dense.zero_()
        dense.add_(grad)
        param.grad = dense

    embedding.sparse = True
    embedding.weight.register_post_accumulate_grad_hook(densify)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=35)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    parser.add_argument("--sparse-embedding-grad", action="store_true", help="experiment: sparse embedding backward into a kept dense buffer (not adopted)")
    parser.add_argument("--keep-heap", action="store_true", help="harness.train.cpu_heap_kept")
    parser.add_argument("--freeze-word-embeddings", action="store_true")
    parser.add_argument("--no-dropout", action="store_true", help="model.eval() during the step (diagnosis only)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from harness.spec.models import load_models
    from harness.planning.identity import resolve_source
    from harness.train.cpu_heap import cpu_heap_kept

    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    location, _ = resolve_source(load_models().get("minilm-l6"))
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(location, num_labels=2, attn_implementation=args.attn)
    if args.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if args.sparse_embedding_grad:
        sparse_embedding_grad(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-5, weight_decay=0.01, fused=True)
    ids = torch.randint(1000, 20000, (args.batch, args.tokens))
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (args.batch,))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    model.train(not args.no_dropout)

    def step(parts=None):
        t0 = time.perf_counter()
        with autocast:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if parts is not None:
            parts.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))

    heap = cpu_heap_kept(True) if args.keep_heap else contextlib.nullcontext()
    with heap:
        for _ in range(3):
            step()
        parts: list[tuple] = []
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(args.steps):
            step(parts)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
        med = [statistics.median(p[i] for p in parts) for i in range(4)]
        print(f"{args.precision} batch {args.batch}x{args.tokens} threads {torch.get_num_threads()} {args.attn}: "
              f"forward {med[0]:.3f} s, backward {med[1]:.3f} s, clip+AdamW+zero_grad {med[2]:.3f} s, "
              f"step {med[3]:.3f} s, {faults:.0f} page faults/step")
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                for _ in range(3):
                    step()
            rows = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
            print(f"{'operator':34s} {'ms/step':>8s} {'calls/step':>10s}  input shapes")
            for event in rows[:25]:
                print(f"{event.key[:34]:34s} {event.self_cpu_time_total / 3000:8.2f} {event.count / 3:10.1f}  "
                      f"{str(event.input_shapes)[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
