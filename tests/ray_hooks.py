"""Ray worker setup hooks for tests/test_ray_overlap.py (runtime_env worker_process_setup_hook):
they run in every Ray worker process of that test's local cluster, never in the library."""
import json
import os
import time
from pathlib import Path


def _wait(condition) -> None:
    """Until `condition()`, at most HARNESS_TEST_WAIT_S seconds: a serial executor makes the test
    fail on its ordering assertions, it never hangs."""
    deadline = time.monotonic() + float(os.environ.get("HARNESS_TEST_WAIT_S", "300"))
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)


def pretraining_overlaps_the_other_cell():
    """The cell that needs no artifact (HARNESS_TEST_OTHER_MODEL) trains only once the pretraining
    holds its artifact's claim, and the pretraining task returns only once that cell's record
    (HARNESS_TEST_OTHER_RECORD) exists: whichever worker starts first, that cell then runs inside
    the pretraining's window, provided the executor runs the two at once."""
    import harness.train.finetune as finetune
    import harness.train.pretrain as pretraining

    results, other = Path(os.environ["HARNESS_TEST_RESULTS"]), Path(os.environ["HARNESS_TEST_OTHER_RECORD"])
    real_pretrain, real_fine_tune = pretraining.pretrain, finetune.fine_tune_cell

    def pretrain_then_wait(run):
        body = real_pretrain(run)
        _wait(lambda: other.is_file() and bool(json.loads(other.read_text()).get("status")))
        (results / "hook-pretraining-waited").touch()  # the test checks that the hooks ran
        return body

    def fine_tune_once_pretraining_runs(run):
        if run.model.name == os.environ["HARNESS_TEST_OTHER_MODEL"]:
            _wait(lambda: any(results.glob("pretrain/*/pretrain.claim")))
            (results / "hook-cell-waited").touch()
        return real_fine_tune(run)

    pretraining.pretrain = pretrain_then_wait
    finetune.fine_tune_cell = fine_tune_once_pretraining_runs
