"""Model construction for a cell: tokenizer, classifier (pretrained or from scratch), parameter counts."""
from __future__ import annotations
from harness.planning.identity import ModelIdentity, resolve_identity

from harness.spec.model import ModelSpec


# --------------------------------------------------------------------------- building
def _identity(model: ModelSpec | ModelIdentity) -> ModelIdentity:
    return model if isinstance(model, ModelIdentity) else resolve_identity(model)


def load_tokenizer(model: ModelSpec | ModelIdentity):
    from transformers import AutoTokenizer

    identity = _identity(model)
    return AutoTokenizer.from_pretrained(identity.location, revision=identity.revision, trust_remote_code=False)


def build_model(model: ModelSpec | ModelIdentity, labels: list[str], seed: int):
    """A sequence classifier with `len(labels)` outputs and the label names in its config.

    The classification head (and, for `init: scratch`, every weight) is initialised under
    `seed`, so seeds change the head, never the pretrained body."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed

    identity = _identity(model)
    location, revision = identity.location, identity.revision
    label_kwargs = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
    set_seed(seed)
    if identity.init == "scratch":
        config = AutoConfig.from_pretrained(location, revision=revision, trust_remote_code=False, **label_kwargs)
        return AutoModelForSequenceClassification.from_config(config)
    # the identity refused a pickle-only folder without the opt-in; None: safetensors first, then the pickle
    return AutoModelForSequenceClassification.from_pretrained(
        location,
        revision=revision,
        trust_remote_code=False,
        use_safetensors=None if "pickle" in identity.weights else True,
        **label_kwargs,
    )


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings." in name)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}
