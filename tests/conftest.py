import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Tests never touch the network, and never share the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "harness-cache"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from helpers import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture()
def toy_env(tmp_path, tiny_model_dir):
    """A toy task in the generic layout, its spec folder and a models file with the tiny BERT."""
    from helpers import write_generic_task, write_models_file

    data_dir, tasks_dir = tmp_path / "data", tmp_path / "tasks"
    task = write_generic_task(data_dir, tasks_dir)
    models = write_models_file(
        tmp_path / "models.yaml",
        [
            {"name": "tiny", "source": str(tiny_model_dir)},
            {"name": "tiny-scratch", "source": str(tiny_model_dir), "init": "scratch"},
        ],
    )
    return {"data": data_dir, "tasks": tasks_dir, "models": models, "task": task, "results": tmp_path / "results"}


def harness_args(env, *rest: str) -> list[str]:
    return ["--tasks-dir", str(env["tasks"]), "--models-file", str(env["models"]), *rest]
