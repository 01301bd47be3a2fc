"""Model specs (models.yaml entries): source, init, revision, training overrides."""
from __future__ import annotations
from harness.spec.common import NAME_PATTERN, Strict
from harness.spec.recipe import RecipeOverrides
from harness.spec.search import SearchBlock

from typing import Literal
from pydantic import Field


# --------------------------------------------------------------------------- models
class ModelSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    source: str = Field(description="Hub id, local folder, or package:<module>/<folder>")
    revision: str | None = None
    init: Literal["pretrained", "scratch"] = "pretrained"
    allow_pickle: bool = Field(False, description="also load pytorch_model.bin (a pickle, which can run code); default: safetensors only")
    description: str = ""
    language: str = ""
    training: RecipeOverrides = Field(default_factory=dict)
    search: SearchBlock | None = Field(None, description="hyperparameter search on the validation split")


