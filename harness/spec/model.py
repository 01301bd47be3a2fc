"""Model specs (models.yaml entries): source, init, revision, training overrides."""
from __future__ import annotations
from harness.spec.common import NAME_PATTERN, Strict
from harness.spec.recipe import RecipeOverrides
from harness.spec.search import SearchBlock
from harness.spec.pretrain import PretrainSpec, TokenizerSpec

from typing import Literal
from pydantic import Field, model_validator


# --------------------------------------------------------------------------- models
class ModelSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    source: str = Field(description="Hub id, local folder, or package:<module>/<folder>")
    revision: str | None = None
    init: Literal["pretrained", "scratch", "finetuned"] = Field(
        "pretrained", description="pretrained: fine-tune from these weights; scratch: random weights; "
        "finetuned: evaluate the checkpoint as published, with its own head and id2label (nothing is trained)")
    label_map: dict[str, str | None] | None = Field(
        None, description="init: finetuned: checkpoint label -> task label (or null: ignored); default: by name")
    allow_pickle: bool = Field(False, description="also load pytorch_model.bin (a pickle, which can run code); default: safetensors only")
    description: str = ""
    language: str = ""
    training: RecipeOverrides = Field(default_factory=dict)
    search: SearchBlock | None = Field(None, description="hyperparameter search on the validation split")
    pretrain: PretrainSpec | None = Field(None, description="masked-LM pretraining of the source before fine-tuning (docs/pretraining.md)")
    tokenizer: TokenizerSpec | None = Field(None, description="train a tokenizer of its own on the pretraining corpus")

    @model_validator(mode="after")
    def _tokenizer_needs_corpus(self) -> "ModelSpec":
        if self.tokenizer and self.tokenizer.train:
            if self.pretrain is None:
                raise ValueError("tokenizer: train: true needs a pretrain: block (its corpus trains the tokenizer)")
            if self.init != "scratch":
                raise ValueError("tokenizer: train: true goes with init: scratch (pretrained embeddings belong to the source's tokenizer)")
        return self



    @model_validator(mode="after")
    def _label_map_only_when_finetuned(self) -> "ModelSpec":
        if self.label_map is not None and self.init != "finetuned":
            raise ValueError("label_map: only a model with 'init: finetuned' (evaluated as published) maps labels")
        if self.init == "finetuned" and self.search is not None:
            raise ValueError("search: a model with 'init: finetuned' is evaluated, not trained; remove its search block")
        return self
