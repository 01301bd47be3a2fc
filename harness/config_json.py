"""The keys of a checkpoint's config.json the harness reads (planning: positions, token types, an
existing head and its labels; training: the FLOPs per token of each family). A config has many
more; every key is optional and, read from disk, untrusted: the readers check what they use."""
from __future__ import annotations

from typing import TypedDict


class ModelConfigJson(TypedDict, total=False):
    model_type: str  # the family
    architectures: list[str]
    # an existing classification head
    id2label: dict[str, str]
    num_labels: int
    problem_type: str | None
    # how many tokens an example can have
    max_position_embeddings: int
    n_positions: int
    pad_token_id: int | None
    type_vocab_size: int
    # sizes (the names differ between families)
    hidden_size: int
    dim: int
    emb_dim: int
    d_model: int
    embedding_size: int
    num_hidden_layers: int
    n_layers: int
    num_layers: int
    intermediate_size: int
    hidden_dim: int
    ffn_dim: int
    inner_group_num: int  # ALBERT: layers applied per shared group
    # attention
    local_attention: int  # ModernBERT: the sliding window
    global_attn_every_n_layers: int
    layer_types: list[str]
    relative_attention: bool  # DeBERTa
    position_buckets: int
    max_relative_positions: int
    pos_att_type: list[str]
