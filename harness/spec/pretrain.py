"""The `pretrain:` and `tokenizer:` blocks of a model spec: masked-LM pretraining of the spec's
source (continued, or from random weights with `init: scratch`) before any fine-tuning, and a
tokenizer of its own trained on the same corpus. Declared and validated here; no torch."""
from __future__ import annotations
from harness.spec.common import Strict

from typing import Literal
from pydantic import Field, model_validator


class HubCorpus(Strict):
    """A Hugging Face dataset with a text column (pinned with `revision` for a reproducible fingerprint)."""

    path: str = Field(description="dataset id on the Hub, e.g. 'wikimedia/wikipedia'")
    name: str | None = Field(None, description="the dataset's configuration (subset)")
    split: str = Field("train", description="which split of the dataset to read")
    column: str = Field("text", description="the column that holds the text")
    revision: str | None = Field(None, description="the dataset commit to read (recommended)")
    max_rows: int | None = Field(None, ge=1, description="read only the first N rows")


class CorpusSpec(Strict):
    """Where the pretraining texts come from: any mix of the tasks' own texts (labels unused),
    text files (one text a line, .txt or .txt.gz) and a Hub dataset."""

    tasks: list[str] = Field(default_factory=list, description="task names whose texts enter the corpus")
    splits: list[Literal["train"]] = Field(
        default_factory=lambda: ["train"],
        description="task splits read into the corpus; only train: validation and test texts never enter a corpus",
    )
    files: list[str] = Field(default_factory=list, description="text files, one text a line (.txt or .gz); relative to models.yaml")
    hub: HubCorpus | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_held_out_splits(cls, value):
        splits = value.get("splits") if isinstance(value, dict) else None
        for split in splits or []:
            if split in ("validation", "test"):
                raise ValueError(
                    f"splits: '{split}' would leak the evaluated texts into pretraining; use splits: [train]"
                )
        return value

    @model_validator(mode="after")
    def _something(self) -> "CorpusSpec":
        if not (self.tasks or self.files or self.hub):
            raise ValueError("an empty corpus: name tasks, files or a hub dataset")
        return self


class PretrainSpec(Strict):
    """Masked-LM pretraining budget and recipe. Defaults: the course's recipe (mlm 0.15, 5e-5)."""

    corpus: CorpusSpec
    max_steps: int = Field(1000, ge=1, description="optimizer steps of masked-LM training (the budget)")
    learning_rate: float = Field(5e-5, gt=0, description="peak AdamW learning rate (linear warm-up, then linear decay)")
    batch_size: int = Field(32, ge=1, description="texts per optimizer step")
    max_length: int = Field(128, ge=8, description="tokens per text; longer texts are truncated")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="share of the tokens masked (BERT: 0.15)")
    whole_word_masking: bool = Field(True, description="mask whole words where the tokenizer is fast (offsets known); else tokens")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="share of the steps spent warming the learning rate up (RoBERTa: 6%)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    heldout_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of the corpus kept out for the masked-LM loss before/after")
    eval_steps: int = Field(100, ge=1, description="held-out masked-LM loss every N steps (the loss curve)")
    save_steps: int = Field(200, ge=1, description="checkpoint every N steps: a killed pretraining resumes from the last one")
    seed: int = Field(0, ge=0, description="seed of the split, the masking and the initialisation (shared by every fine-tune seed)")


class TokenizerSpec(Strict):
    """`tokenizer: {train: true}`: a tokenizer of the source's kind, trained on the pretraining corpus
    with the `tokenizers` library: the source's pipeline (normalizer, pre-tokenizer, special tokens)
    with a new vocabulary: WordPiece for BERT-like sources, Unigram for CamemBERT / XLM-R, BPE for RoBERTa."""

    train: bool = Field(False, description="train a new tokenizer on the pretraining corpus (needs pretrain:)")
    vocab_size: int = Field(16000, ge=100, description="vocabulary size of the trained tokenizer")
