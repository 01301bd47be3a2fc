"""`harness predict` on tiny saved classifiers: a 2-label single-text task and a 3-label pair task."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cli.main import main

SINGLE_LABELS = ["negative", "positive"]
PAIR_LABELS = ["entailment", "neutral", "contradiction"]


def _save_classifier(encoder: Path, target: Path, labels: list[str], meta: dict) -> Path:
    """A BertForSequenceClassification on the tiny encoder, saved like `harness run --save-model` does."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        encoder, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    with torch.no_grad():  # a visible, non-uniform head so that the probabilities differ
        model.classifier.weight.normal_(0, 2.0)
        model.classifier.bias.copy_(torch.linspace(-0.5, 0.5, len(labels)))
    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(target)
    (target / "harness.json").write_text(json.dumps({**meta, "labels": labels, "max_length": 32, "seed": 0}))
    return target


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    from helpers import tiny_bert

    root = tmp_path_factory.mktemp("predict")
    encoder = tiny_bert(root / "encoder")
    single = _save_classifier(encoder, root / "single", SINGLE_LABELS,
                              {"task": "toy-sentiment", "text_columns": ["sentence"], "model": "tiny"})
    pair = _save_classifier(encoder, root / "pair", PAIR_LABELS,
                            {"task": "toy-nli", "text_columns": ["premise", "hypothesis"], "model": "tiny"})
    return {"single": single, "pair": pair}


def _parse_lines(out: str) -> list[tuple[str, float]]:
    rows = []
    for line in out.strip().splitlines():
        label, score = line.split("\t")
        rows.append((label, float(score)))
    return rows


def test_single_text_prints_label_and_confidence(saved_models, capsys):
    assert main(["predict", str(saved_models["single"]), "the soup was warm and tasty"]) == 0
    rows = _parse_lines(capsys.readouterr().out)
    assert len(rows) == 1
    label, confidence = rows[0]
    assert label in SINGLE_LABELS
    assert 0.5 <= confidence <= 1.0  # the argmax of two softmax probabilities


def test_pair_top_k_sorted_probabilities(saved_models, capsys):
    args = ["predict", str(saved_models["pair"]), "a man plays a guitar", "a person makes music", "--top-k", "3"]
    assert main(args) == 0
    rows = _parse_lines(capsys.readouterr().out)
    assert [label for label, _ in rows] and sorted(label for label, _ in rows) == sorted(PAIR_LABELS)
    scores = [score for _, score in rows]
    assert all(0.0 < s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-3  # printed with 4 decimals
    assert sum(scores) == pytest.approx(1.0, abs=2e-3)  # all three labels: the whole distribution


def test_top_k_smaller_than_labels_and_json(saved_models, capsys):
    args = ["predict", str(saved_models["pair"]), "a man plays a guitar", "nobody is there", "--top-k", "2", "--json"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["text"] == "a man plays a guitar" and payload["text_pair"] == "nobody is there"
    assert payload["label"] in PAIR_LABELS
    assert 0.0 < payload["confidence"] <= 1.0
    top = payload["top_k"]
    assert len(top) == 2
    assert top[0]["label"] == payload["label"] and top[0]["score"] == payload["confidence"]
    assert top[0]["score"] >= top[1]["score"]
    assert sum(t["score"] for t in top) < 1.0  # two of three labels


def test_confidence_is_the_softmax_of_the_model(saved_models, capsys):
    """The printed confidence is the softmax probability of the model's argmax label, not a raw logit."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    text = "awful coffee and a slow waiter"
    assert main(["predict", str(saved_models["single"]), text, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    folder = saved_models["single"]
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        probs = torch.softmax(model(**AutoTokenizer.from_pretrained(folder)(text, return_tensors="pt")).logits[0], -1)
    assert payload["label"] == SINGLE_LABELS[int(probs.argmax())]
    assert payload["confidence"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_jsonl_round_trip(saved_models, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    rows = [{"id": 1, "sentence": "the film was funny and moving"},
            {"id": 2, "text": "the concert was loud and dull"},  # the generic key is accepted too
            {"id": 3, "sentence": "a calm sunny day at the lake"}]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    target = tmp_path / "out" / "pred.jsonl"
    args = ["predict", str(saved_models["single"]), "--input", str(source), "--output", str(target), "--batch-size", "2"]
    assert main(args) == 0
    out = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in out] == [1, 2, 3]
    assert out[0]["sentence"] == rows[0]["sentence"] and out[1]["text"] == rows[1]["text"]
    for row in out:
        assert row["label"] in SINGLE_LABELS and 0.0 < row["confidence"] <= 1.0
        assert row["top_k"][0] == {"label": row["label"], "score": row["confidence"]}
    # the file batch agrees with one-at-a-time prediction
    capsys.readouterr()
    assert main(["predict", str(saved_models["single"]), rows[0]["sentence"], "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["label"] == out[0]["label"]
    assert single["confidence"] == pytest.approx(out[0]["confidence"], abs=1e-5)


def test_csv_round_trip_pair(saved_models, tmp_path):
    source = tmp_path / "pairs.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["premise", "hypothesis", "note"])
        writer.writerow(["a man plays a guitar", "a person makes music", "x"])
        writer.writerow(["a cat sleeps", "the cat is running, fast", "y"])
    target = tmp_path / "pairs-out.csv"
    assert main(["predict", str(saved_models["pair"]), "--input", str(source), "--output", str(target)]) == 0
    with open(target, newline="") as handle:
        out = list(csv.DictReader(handle))
    assert len(out) == 2
    assert list(out[0]) == ["premise", "hypothesis", "note", "label", "confidence"]
    assert out[1]["hypothesis"] == "the cat is running, fast" and out[1]["note"] == "y"
    for row in out:
        assert row["label"] in PAIR_LABELS
        assert 0.0 < float(row["confidence"]) <= 1.0


def test_folder_without_model_is_exit_2(tmp_path, capsys):
    empty = tmp_path / "cell"
    (empty / "model-seed-0").mkdir(parents=True)
    assert main(["predict", str(empty), "some text"]) == 2
    err = capsys.readouterr().err
    assert "harness run --save-model" in err and "model-seed-0" in err
    assert len(err.strip().splitlines()) == 1


def test_wrong_text_count_is_exit_2(saved_models, capsys):
    assert main(["predict", str(saved_models["pair"]), "only one text"]) == 2
    assert "two texts" in capsys.readouterr().err
    assert main(["predict", str(saved_models["single"]), "one", "two"]) == 2
    assert "one text" in capsys.readouterr().err
    assert main(["predict", str(saved_models["single"])]) == 2


def test_file_errors_are_exit_2(saved_models, tmp_path, capsys):
    folder = str(saved_models["single"])
    assert main(["predict", folder, "--input", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"sentence": "fine"}) + "\n")
    assert main(["predict", folder, "--input", str(source), "--output", str(tmp_path / "out.txt")]) == 2
    assert "unknown extension" in capsys.readouterr().err
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"review": "fine"}) + "\n")
    assert main(["predict", folder, "--input", str(wrong)]) == 2
    assert "sentence" in capsys.readouterr().err
