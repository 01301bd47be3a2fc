"""The checks of a plan that need no grid: seeds, the results folder, recipe values the Trainer
would reject, the precision a device can run, and the offline switch. Each raises HarnessError
(exit 2) before anything runs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from harness.planning.identity import resolve_source
from harness.spec.model import ModelSpec
from harness.spec.recipe import Recipe
from harness.spec.task import TaskSpec
from harness.spec.common import suggest


def parse_seeds(seeds: int | None, seed_list: list[int] | str | None, default: int) -> list[int]:
    if seed_list is not None:
        items = seed_list.split(",") if isinstance(seed_list, str) else list(seed_list)
        if not [str(i).strip() for i in items if str(i).strip()]:
            raise HarnessError("--seed-list is empty: give seeds like 0,1,2 (or use --seeds N)")
        out = []
        for item in items:
            text = str(item).strip()
            if not text.lstrip("-").isdigit():
                raise HarnessError(f"--seed-list: '{text}' is not a whole number (expected e.g. 0,1,2)")
            if int(text) < 0:
                raise HarnessError(f"--seed-list: seed {text} is negative; seeds are 0 or more")
            out.append(int(text))
        dupes = sorted({s for s in out if out.count(s) > 1})
        if dupes:
            raise HarnessError(f"--seed-list: seed {dupes[0]} is given twice; each seed is one cell")
        return out
    count = default if seeds is None else seeds
    if count < 1:
        raise HarnessError("--seeds must be at least 1")
    return list(range(count))


def check_results_folder(results: Path) -> None:
    """The results folder must be (or become) a writable folder: checked with a probe file in it
    or in its closest existing parent, which is removed again."""
    if results.exists() and not results.is_dir():
        raise HarnessError(f"--results {results} is a file, not a folder; pick another path")
    probe_in = results
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise HarnessError(f"--results {results}: {probe_in} is a file, so the folder cannot be created")
    try:
        fd, probe = tempfile.mkstemp(prefix=".harness-write-probe-", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HarnessError(f"--results {results}: cannot write in {probe_in} ({exc.strerror}); pick a writable folder") from None


def check_recipe(recipe: Recipe, where: str) -> None:
    """Values that pass the recipe's types but that the Trainer would reject mid-grid."""
    from transformers.training_args import OptimizerNames

    names = [o.value for o in OptimizerNames]
    if recipe.optim not in names:
        raise HarnessError(f"{where}: unknown optim '{recipe.optim}'{suggest(recipe.optim, names)}; "
                           f"one of transformers' OptimizerNames, e.g. adamw_torch_fused")


def _resolve_precision(requested: str, device) -> tuple[str, str]:
    """(precision, why) for the device the cells train on."""
    from harness.device import choose_precision

    if device.type == "cpu" and requested == "fp16":
        raise HarnessError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU (auto picks for you)")
    try:
        return choose_precision(requested, device.index or 0)
    except ValueError as exc:
        raise HarnessError(f"--precision: {exc}") from None


def set_offline_if_local(tasks: list[TaskSpec], data_dir: str | None, models: list[ModelSpec]) -> bool:
    """Local data (a data dir, or files bundled with every task) and only local or packaged
    models: set the Hugging Face offline modes so that nothing can touch the network."""
    has_dir = bool(data_dir or os.environ.get("HARNESS_DATA_DIR"))
    for task in tasks:
        bundled = all(s.bundled for s in task.splits.values())
        if not has_dir and not bundled:
            return False
    for model in models:
        if model.pretrain is not None and model.pretrain.corpus.hub is not None:
            return False  # a Hub dataset corpus
        try:
            _, local = resolve_source(model)
        except HarnessError:
            local = True  # it will fail as a cell; it cannot reach the network either
        if not local:
            return False
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    return True
