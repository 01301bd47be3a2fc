"""Pretraining steps of a plan: a model spec with `pretrain:` becomes one artifact, built once
before the fine-tune cells of that spec (every task, every seed) and reused by all of them.

The artifact's key hashes the source's identity, the corpus fingerprint, the pretraining recipe
(with its seed) and the tokenizer block; the fine-tune cells load the artifact's model and carry
the key in their config (so their config hash changes with the corpus or the budget)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from harness.data.corpus import Corpus, CorpusProvenance, assemble_corpus, held_out_texts
from harness.errors import HarnessError
from harness.planning.context import HARNESS_MAJOR, config_hash
from harness.planning.identity import ModelIdentity
from harness.records.pretrain import MODEL_FOLDER, RECORD_FILE, artifact_dir, read_pretrain_record
from harness.spec.model import ModelSpec

if TYPE_CHECKING:
    from harness.data.tasks import TaskData


class PretrainRow(TypedDict):
    """One pretraining artifact of `harness plan --json`."""

    model: str
    status: str
    key: str
    path: str
    max_steps: int
    corpus: CorpusProvenance


@dataclass
class PretrainStep:
    model: ModelSpec
    source: ModelIdentity  # the spec's source, as resolved
    corpus: Corpus
    key: str
    folder: Path  # RESULTS/pretrain/<model>-<key>/
    status: str = "todo"  # done | todo | failed | running
    error: str | None = None  # set when the build failed: the cells that need it fail with it

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def record_path(self) -> Path:
        return self.folder / RECORD_FILE

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_FOLDER

    @property
    def label(self) -> str:
        return f"{self.name} ({self.model.pretrain.max_steps} steps, corpus {self.corpus.fingerprint})"

    def identity(self) -> ModelIdentity:
        """What the fine-tune cells load: the artifact's model, pinned by the key."""
        return replace(self.source, init="pretrained", location=str(self.model_dir), local=True,
                       weights="safetensors (pretraining artifact)", content_hash=self.key, pretrain_artifact=self.key)

    def row(self) -> PretrainRow:
        return {"model": self.name, "status": self.status, "key": self.key, "path": str(self.folder),
                "max_steps": self.model.pretrain.max_steps, "corpus": self.corpus.provenance()}


def artifact_key(model: ModelSpec, source: ModelIdentity, corpus: Corpus) -> str:
    return config_hash({
        "source": source.as_config(), "init": model.init, "corpus": corpus.fingerprint,
        "pretrain": model.pretrain.model_dump(exclude={"corpus"}),
        "tokenizer": model.tokenizer.model_dump() if model.tokenizer else None, "harness_major": HARNESS_MAJOR,
    })


def artifact_status(record: Path, key: str) -> str:
    from harness.records.claims import live_claim

    if record.is_file():
        try:
            old = read_pretrain_record(record)
        except HarnessError:
            old = None
        if old and old.key == key and old.completed and (record.parent / MODEL_FOLDER / "config.json").is_file():
            return "done"
        if live_claim(record) is None and old is not None and not old.completed:
            return "failed"
    return "running" if live_claim(record) else "todo"


def plan_pretraining(models: list[ModelSpec], identities: dict[str, ModelIdentity | str], data: dict[str, TaskData],
                     task_registry,
                     data_dir, results: Path) -> list[PretrainStep]:
    """One step per spec with `pretrain:`; replaces its entry in `identities` with the artifact's.
    A corpus that is missing, empty or holds an evaluated task's held-out texts: exit 2 here."""
    from harness.data.tasks import get_task, load_task

    steps = []
    guard = {name: held_out_texts(task) for name, task in data.items()}
    for model in models:
        source = identities.get(model.name)
        if model.pretrain is None or not isinstance(source, ModelIdentity):
            continue  # an unresolved source fails as its cells
        corpus_tasks = {name: data[name] if name in data else load_task(get_task(name, task_registry), data_dir)
                        for name in model.pretrain.corpus.tasks}
        corpus = assemble_corpus(model.name, model.pretrain.corpus, corpus_tasks, guard,
                                 model.pretrain.heldout_fraction, model.pretrain.seed)
        key = artifact_key(model, source, corpus)
        folder = artifact_dir(results, model.name, key)
        step = PretrainStep(model, source, corpus, key, folder, artifact_status(folder / RECORD_FILE, key))
        identities[model.name] = step.identity()
        steps.append(step)
    return steps
