"""`pip install .` as a wheel (not editable) gives a working `harness` that finds its task specs,
models.yaml and suites.yaml from any folder."""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_and_finds_its_registry(tmp_path):
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling (the 'test' extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTHON", "VIRTUAL_ENV"))}
    # 1. Build the wheel from the repository, without network (no build isolation).
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", str(wheels), str(REPO)], tmp_path, env)
    (wheel,) = wheels.glob("encoder_harness-*.whl")
    # 2. A fresh virtual environment without the package. Its dependencies (torch, transformers...)
    #    come from this interpreter's site-packages through a .pth line: a path, not an import, so
    #    the editable install of the repository that lives there is not activated.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip())
    shared = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "_shared_deps.pth").write_text("\n".join(shared) + "\n")
    # 3. Install the wheel into it (pip itself comes through the .pth as well).
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    location = _run([str(python), "-c", "import harness, harness.files as f; print(harness.__file__); print(f.data_path('tasks'))"],
                    elsewhere, env).split()
    assert location[0].startswith(str(purelib)), location  # the wheel's copy, not the repository
    assert location[1] == str(purelib / "harness" / "_data" / "tasks")
    # 4. The console script, from another folder, lists the shipped tasks and models.
    tasks = _run([str(venv / "bin" / "harness"), "tasks"], elsewhere, env)
    for name in ("sst2", "miam-loria", "demo-nli-en"):
        assert name in tasks
    models = _run([str(venv / "bin" / "harness"), "models"], elsewhere, env)
    assert "minilm-l6" in models and "camembert-base" in models
    assert "demo" in _run([str(venv / "bin" / "harness"), "suites"], elsewhere, env)
