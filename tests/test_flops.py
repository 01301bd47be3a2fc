"""The FLOPs behind MFU follow each family's architecture: checked against torch's own FLOP
counter (torch.utils.flop_counter.FlopCounterMode) on the tiny faithful folders, with eager
attention so that the attention matmuls are visible to the counter."""
import pytest

from families import FAMILIES, build_family
from harness.train.flops import _local_keys, forward_flops_per_token


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    from transformers import AutoModel

    root = tmp_path_factory.mktemp("flops")
    return {f: AutoModel.from_pretrained(build_family(f, root / f), attn_implementation="eager").eval() for f in FAMILIES}


def _counted(model, batch: int, length: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ids = torch.randint(5, 60, (batch, length), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return counter.get_total_flops() / (batch * length)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("batch,length", [(1, 8), (2, 40)])
def test_forward_flops_per_token_match_torchs_flop_counter(encoders, family, batch, length):
    model = encoders[family]
    ours = forward_flops_per_token(model.config.to_dict(), length, batch)
    counted = _counted(model, batch, length)
    if family == "modernbert" and length > model.config.local_attention // 2:
        # the counter charges the masked keys of the sliding-window layers; we count the keys in the window
        local = sum(kind == "sliding_attention" for kind in model.config.layer_types)
        hidden = model.config.hidden_size
        counted -= local * 4 * hidden * (length - _local_keys(length, model.config.local_attention // 2))
    # what we leave out: the pooler BERT-style base models run once per sequence
    assert ours == pytest.approx(counted, rel=0.01)


def test_albert_counts_its_shared_layer_once_per_application(encoders):
    config = encoders["albert"].config.to_dict()
    one = forward_flops_per_token({**config, "num_hidden_layers": 1}, 16)
    three = forward_flops_per_token(config, 16)
    projection = 2 * config["embedding_size"] * config["hidden_size"]
    assert three - projection == pytest.approx(3 * (one - projection))
    shared = sum(p.numel() for n, p in encoders["albert"].named_parameters() if "embeddings" not in n)
    assert three > 2.5 * 2 * shared  # 2 x parameters (one layer's weights) would understate it ~3x


def test_deberta_relative_attention_is_counted_beyond_the_plain_layers(encoders):
    config = encoders["deberta-v3"].config.to_dict()
    plain = forward_flops_per_token({**config, "relative_attention": False}, 40, 2)
    assert forward_flops_per_token(config, 40, 2) > 1.5 * plain
