"""Tiny faithful model folders of every encoder family the harness supports: the family's real
config and model classes (a few layers, hidden size 32) and its real tokenizer class, with a
tokenizer trained here on text written for the tests, in the files the Hub checkpoints ship
(WordPiece vocab, byte-level BPE, a sentencepiece model without tokenizer.json, FlauBERT's Moses
BPE), and the family's quirks: RoBERTa-style 514 positions with the pad offset, DistilBERT
without token type ids, ALBERT's shared layers, DeBERTa-v3's relative attention, ModernBERT's
alternating local / global attention."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import NEGATIVE, POSITIVE

FRENCH = [
    "la soupe était chaude et savoureuse", "le film était long et pénible", "quel voisin aimable et souriant",
    "le vieux train arrive encore en retard", "une journée grise passée à la maison", "le café était amer et froid",
    "ce livre m'a rendu heureux toute la semaine", "le concert était joyeux et lumineux",
]
CORPUS = (POSITIVE + NEGATIVE + FRENCH) * 2
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
FAMILIES = ("bert-cased", "distilbert", "electra", "roberta", "camembert", "xlm-roberta", "flaubert",
            "deberta-v3", "modernbert", "albert")


def _tokenizer_config(folder: Path, cls: str, **extra) -> None:
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    config.update({"tokenizer_class": cls, **extra})
    path.write_text(json.dumps(config))


def _wordpiece(folder: Path, cls: str, lowercase: bool) -> int:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls_id, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    fast.save_pretrained(folder)
    _tokenizer_config(folder, cls, do_lower_case=lowercase)
    return tok.get_vocab_size()


def _byte_bpe(folder: Path, cls: str, specials: list[str], pad: str, bos: str, eos: str) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing((eos, tok.token_to_id(eos)), (bos, tok.token_to_id(bos)))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, bos_token=bos, eos_token=eos, cls_token=bos,
                                   sep_token=eos, unk_token=specials[-2], mask_token=specials[-1], model_max_length=512)
    fast.save_pretrained(folder)
    _tokenizer_config(folder, cls)
    return tok.get_vocab_size()


# the special pieces of each family's sentencepiece model, in the Hub checkpoints' order
SPM_PIECES = {
    "fairseq": dict(unk_id=0, bos_id=1, eos_id=2, pad_id=3),  # CamemBERT, XLM-R (the tokenizer adds fairseq's offset)
    "albert": dict(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"]),
    "deberta": dict(pad_id=0, unk_id=3, bos_id=1, eos_id=2, bos_piece="[CLS]", eos_piece="[SEP]", pad_piece="[PAD]",
                    unk_piece="[UNK]", user_defined_symbols=["[MASK]"]),
}


def _sentencepiece(folder: Path, filename: str, cls: str, pieces: str, **extra) -> int:
    """A sentencepiece model only (no tokenizer.json): the folder a slow-only checkpoint ships."""
    import sentencepiece as spm

    prefix = folder / "spm-train"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_prefix=str(prefix), vocab_size=150, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, **SPM_PIECES[pieces])
    (folder / "spm-train.vocab").unlink()
    (folder / "spm-train.model").rename(folder / filename)
    _tokenizer_config(folder, cls, model_max_length=512, **extra)
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(folder))


def _flaubert(folder: Path) -> int:
    """FlauBERT's XLM tokenizer: Moses pre-tokenization (sacremoses) and BPE with `</w>` ends."""
    specials = ["<s>", "</s>", "<pad>", "<unk>", "<special0>", "<special1>", "<special2>", "<special3>", "<special4>",
                "<special5>", "<special6>", "<special7>", "<special8>", "<special9>"]
    chars = sorted({c for line in CORPUS for c in line.lower() if not c.isspace()})
    vocab = {token: i for i, token in enumerate(specials + chars + [c + "</w>" for c in chars])}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    _tokenizer_config(folder, "FlaubertTokenizer", do_lowercase=True, model_max_length=512)
    return len(vocab)


def build_family(family: str, folder: Path) -> Path:
    """One family's tiny folder: an encoder without a classification head, like a pretrained checkpoint."""
    import torch
    import transformers as tf

    folder.mkdir(parents=True, exist_ok=True)
    if family in ("bert-cased", "distilbert", "electra"):
        cls = {"bert-cased": "BertTokenizer", "distilbert": "DistilBertTokenizer", "electra": "ElectraTokenizer"}[family]
        vocab = _wordpiece(folder, cls, lowercase=family != "bert-cased")
        if family == "bert-cased":
            config = tf.BertConfig(vocab_size=vocab, max_position_embeddings=512, **SMALL)
        elif family == "distilbert":
            config = tf.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=512)
        else:
            config = tf.ElectraConfig(vocab_size=vocab, embedding_size=16, max_position_embeddings=512, **SMALL)
    elif family == "roberta":
        vocab = _byte_bpe(folder, "RobertaTokenizer", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<pad>", "<s>", "</s>")
        config = tf.RobertaConfig(vocab_size=vocab, max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                                  eos_token_id=2, type_vocab_size=1, **SMALL)
    elif family == "modernbert":
        vocab = _byte_bpe(folder, "PreTrainedTokenizerFast", ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"], "[PAD]", "[CLS]", "[SEP]")
        config = tf.ModernBertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=8192, global_attn_every_n_layers=3,
                                     local_attention=16, pad_token_id=1, bos_token_id=0, eos_token_id=2, cls_token_id=0,
                                     sep_token_id=2)
    elif family in ("camembert", "xlm-roberta"):
        cls, name = ("CamembertTokenizer", "CamembertConfig") if family == "camembert" else ("XLMRobertaTokenizer", "XLMRobertaConfig")
        vocab = _sentencepiece(folder, "sentencepiece.bpe.model", cls, "fairseq")
        config = getattr(tf, name)(vocab_size=vocab, max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                                   eos_token_id=2, type_vocab_size=1, **SMALL)
    elif family == "albert":
        vocab = _sentencepiece(folder, "spiece.model", "AlbertTokenizer", "albert", do_lower_case=True)
        config = tf.AlbertConfig(vocab_size=vocab, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                                 num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    elif family == "deberta-v3":
        vocab = _sentencepiece(folder, "spm.model", "DebertaV2Tokenizer", "deberta", do_lower_case=False)
        config = tf.DebertaV2Config(vocab_size=vocab, max_position_embeddings=512, relative_attention=True,
                                    position_buckets=32, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
                                    position_biased_input=False, share_att_key=True, norm_rel_ebd="layer_norm",
                                    type_vocab_size=0, pad_token_id=0, **SMALL)
    elif family == "flaubert":
        vocab = _flaubert(folder)
        config = tf.FlaubertConfig(vocab_size=vocab, emb_dim=32, n_layers=2, n_heads=2, max_position_embeddings=512,
                                   n_langs=1, pad_index=2, unk_index=3, bos_index=0, eos_index=1, pad_token_id=2)
    else:
        raise ValueError(family)
    with torch.random.fork_rng():  # the folder's weights are the family's own, the same every session
        torch.manual_seed(sum(map(ord, family)))
        model = tf.AutoModel.from_config(config)
    model.save_pretrained(folder)
    return folder
