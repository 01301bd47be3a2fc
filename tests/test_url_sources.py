"""The upstream-URL code path (MIAM CSVs, the FLUE CLS tar.gz archive), served from loopback.

The same spec fields the shipped tasks use (`url`, `member`) are pointed at a local HTTP server,
so the download, cache and archive-extraction code runs for real without leaving the machine.
"""
import http.server
import io
import tarfile
import threading
from functools import partial
from pathlib import Path

import pytest
import yaml

from harness.data.tasks import load_registry, load_task

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"


@pytest.fixture()
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    (root / "MIAM" / "loria").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (root / "MIAM" / "loria" / f"{split}.csv").write_bytes((FIXTURES / "MIAM" / "loria" / f"{split}.csv").read_bytes())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for split in ("train", "test"):
            archive.add(FIXTURES / "cls-acl10-unprocessed" / "fr" / "books" / f"{split}.review",
                        arcname=f"cls-acl10-unprocessed/fr/books/{split}.review")
    (root / "cls.tar.gz").write_bytes(buffer.getvalue())

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the server's access log off the CLI's stderr
            pass

    handler = partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.DOWNLOADED_DATASETS_PATH", tmp_path / "hf-cache" / "downloads", raising=False)
    monkeypatch.setattr("datasets.config.EXTRACTED_DATASETS_PATH", tmp_path / "hf-cache" / "extracted", raising=False)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _spec_dir(tmp_path: Path, base: str) -> Path:
    """The shipped MIAM loria and FLUE CLS books specs, with their URLs moved to `base`."""
    registry = load_registry()
    folder = tmp_path / "specs"
    folder.mkdir()
    tasks = []
    for name, new in (("miam-loria", "url-loria"), ("flue-cls-books", "url-cls-books")):
        spec = registry[name].model_dump(exclude={"spec_file", "spec_dir", "expected_rows"})
        spec["name"] = new
        for split, source in spec["splits"].items():
            source["url"] = (
                f"{base}/MIAM/loria/{source['url'].rsplit('/', 1)[1]}" if name == "miam-loria" else f"{base}/cls.tar.gz"
            )
        tasks.append(spec)
    (folder / "url.yaml").write_text(yaml.safe_dump({"family": "url", "tasks": tasks}, sort_keys=False))
    return folder


def test_miam_and_cls_load_from_upstream_urls(tmp_path, server):
    registry = load_registry([_spec_dir(tmp_path, server)])
    miam_url = load_task(registry["url-loria"])
    miam_local = load_task(registry["miam-loria"], FIXTURES)
    for split in ("train", "validation", "test"):
        assert miam_url.splits[split].to_dict() == miam_local.splits[split].to_dict()
    assert miam_url.files["train"].startswith(server)

    cls_url = load_task(registry["url-cls-books"])
    cls_local = load_task(registry["flue-cls-books"], FIXTURES)
    assert cls_url.files["test"].endswith("#cls-acl10-unprocessed/fr/books/test.review")
    for split in ("train", "validation", "test"):
        assert cls_url.splits[split].to_dict() == cls_local.splits[split].to_dict()
    # the same content gives the same fingerprint, whichever way it was read
    assert cls_url.fingerprint == cls_local.fingerprint


def test_hub_path_maps_splits_and_drops_unlabelled(monkeypatch):
    """The Hub code path with `datasets.load_dataset` replaced by an in-memory stand-in that has
    the Hub schemas: which split is asked for, which columns are read, what is dropped."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, revision=None, split=None):
        calls.append((path, name, split))
        if path == "nyu-mll/glue":
            n = {"train": 40, "validation": 8, "test": 5}[split]
            labels = [-1] * n if split == "test" else [i % 2 for i in range(n)]
            return datasets.Dataset.from_dict(
                {"sentence": [f"{split} sentence {i}" for i in range(n)], "label": labels, "idx": list(range(n))}
            )
        labels = [0, 1, 2, -1, 1, 0]
        return datasets.Dataset.from_dict(
            {"premise": [f"p{i}" for i in range(6)], "hypothesis": [f"h{i}" for i in range(6)], "label": labels}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    registry = load_registry()
    sst2 = load_task(registry["sst2"])
    assert ("nyu-mll/glue", "sst2", "test") not in calls  # GLUE's hidden-label test split is never used
    assert len(sst2.splits["test"]) == 8 and sst2.splits["test"][0]["sentence"] == "validation sentence 0"
    assert len(sst2.splits["train"]) + len(sst2.splits["validation"]) == 40
    assert len(sst2.splits["validation"]) == 2  # 5% of 40, seed 1234
    snli = load_task(registry["snli"])
    assert ("stanfordnlp/snli", "plain_text", "validation") in calls
    assert snli.splits["test"]["label"] == [0, 1, 2, 1, 0]  # -1 dropped


def test_unreachable_source_is_a_one_line_error(tmp_path, server, capsys):
    from harness.cli.main import main

    folder = _spec_dir(tmp_path, server + "/nothing-here")
    assert main(["--tasks-dir", str(folder), "tasks", "show", "url-loria"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "could not read" in err and "--data-dir" in err
