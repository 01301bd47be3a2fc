"""Forward FLOPs per token of an encoder, from its config, following its architecture: the matmuls
of every layer *applied* (ALBERT applies one shared layer num_hidden_layers times), the attention
scores and weighted values at the sequence length, DeBERTa's disentangled relative attention
(content->position and position->content against 2k relative embeddings, projected once per
batch), ModernBERT's alternating local (sliding window) and global attention and gated MLP,
ELECTRA's and ALBERT's embedding projection. Multiply-accumulate = 2 FLOPs; element-wise work
(softmax, norms, activations) and the classification head (once per sequence) are left out.
MFU = 3 x forward FLOPs (forward + backward) x real tokens/s / peak FLOP/s, 1 x for inference.
tests/test_flops.py checks each family against torch.utils.flop_counter.FlopCounterMode."""
from __future__ import annotations

from typing import Any

from harness.config_json import ModelConfigJson


def _get(config: ModelConfigJson, *names: str, default: Any = None) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return default


def _local_keys(length: int, half_window: int) -> float:
    """Mean number of keys a token attends to in a sliding window of +-half_window."""
    if length <= 0:
        return 0.0
    total = sum(min(length - 1, i + half_window) - max(0, i - half_window) + 1 for i in range(length))
    return total / length


def _layer_kinds(config: ModelConfigJson, layers: int) -> list[str]:
    if config.get("model_type") == "modernbert":
        kinds = config.get("layer_types")
        if kinds:
            return list(kinds)
        every = int(config.get("global_attn_every_n_layers") or 1)
        return ["full_attention" if i % every == 0 else "sliding_attention" for i in range(layers)]
    return ["full_attention"] * layers


def forward_flops_per_token(config: ModelConfigJson, length: float, batch_size: int = 1) -> float | None:
    """Forward FLOPs per token for sequences of `length` tokens in batches of `batch_size`
    (None where the config lacks the sizes). `config` is config.json as a dict."""
    family = config.get("model_type")
    hidden = _get(config, "hidden_size", "dim", "emb_dim", "d_model")
    layers = _get(config, "num_hidden_layers", "n_layers", "num_layers")
    if not hidden or not layers or length <= 0:
        return None
    hidden, layers, n = int(hidden), int(layers), max(1, round(length))
    inner = int(_get(config, "intermediate_size", "hidden_dim", "ffn_dim", default=4 * hidden))
    if family in ("flaubert", "xlm"):
        inner = 4 * hidden  # XLM's FFN is always 4 x emb_dim
    mlp = 3 * hidden * inner if family == "modernbert" else 2 * hidden * inner  # ModernBERT: gated (Wi: 2 x inner)
    per_token = 0.0
    embedding = config.get("embedding_size")
    if embedding and int(embedding) != hidden:
        per_token += 2 * int(embedding) * hidden  # ELECTRA / ALBERT: embeddings projected to the hidden size
    half_window = int(config.get("local_attention") or 0) // 2
    per_batch = 0.0
    if family == "albert":
        layers *= int(config.get("inner_group_num") or 1)  # every application of the shared group counts
    for kind in _layer_kinds(config, layers):
        keys = _local_keys(n, half_window) if kind == "sliding_attention" and half_window else n
        per_token += 2 * (4 * hidden * hidden + mlp)  # Q, K, V, output projections and the MLP
        per_token += 2 * 2 * keys * hidden  # scores (QK^T) and weighted values (AV)
        if family == "deberta-v2" and config.get("relative_attention"):
            span = int(config.get("position_buckets") or 0) or int(config.get("max_relative_positions") or -1)
            if span <= 0:
                span = int(config.get("max_position_embeddings") or 512)
            kinds = [k for k in (config.get("pos_att_type") or []) if k in ("c2p", "p2c")]
            per_token += len(kinds) * 2 * (2 * span) * hidden  # each token against the 2k relative positions
            per_batch += len(kinds) * 2 * (2 * span) * hidden * hidden  # relative embeddings through K / Q
    return per_token + per_batch / (batch_size * n)
