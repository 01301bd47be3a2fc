"""The docs cannot drift: every fenced `harness ...` line of README.md and docs/*.md is parsed by
the command line's own parser, and every one that can run offline is run, in order, in a copy of
the repository's examples with a small results folder, with a tiny budget appended to `harness run`.

A fenced block preceded by `<!-- doc-test: parse-only (why) -->` (GPUs, the Hub, a cluster) is
parsed only. The budget is configuration, not a branch in the library: `--max-train-samples`,
`--max-eval-samples`, `--set max_steps=...`, one seed and no plots."""
from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.cli.parser import parse_args

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*doc-test:\s*parse-only\b")
BUDGET = ["--max-train-samples", "16", "--max-eval-samples", "16", "--set", "max_steps=2", "--no-plots"]
MAX_SEEDS = 1


@dataclass
class Command:
    page: Path
    line: int
    argv: list[str]
    runnable: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {shlex.join(self.argv)}"


def harvest(page: Path) -> list[Command]:
    """The `harness` command lines of a page's bash fences, continuation lines joined and
    comments dropped, each with whether it may run (no parse-only marker before its fence)."""
    commands, in_fence, runnable, parse_only_next, pending, start = [], False, True, False, "", 0
    for number, raw in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not in_fence:
            if MARKER.search(line):
                parse_only_next = True
            elif line.startswith("```"):
                in_fence = line in ("```bash", "```sh", "```shell")
                if not in_fence and line != "```":  # another language: skip to its end
                    in_fence = None
                runnable, parse_only_next = not parse_only_next, False
            continue
        if line.startswith("```"):
            in_fence = False
            continue
        if in_fence is None:
            continue
        if not pending:
            start = number
        pending += " " + line
        if line.endswith("\\"):
            pending = pending[:-1]
            continue
        words, pending = shlex.split(pending, comments=True), ""
        if words and words[0] == "harness":
            commands.append(Command(page, start, words[1:], runnable))
    return commands


def with_budget(argv: list[str]) -> list[str]:
    """A `run` line with the tiny budget appended and its seeds capped; others unchanged."""
    if "run" not in argv or "--dry-run" in argv:
        return argv
    out = list(argv)
    if "--seeds" in out:
        i = out.index("--seeds") + 1
        out[i] = str(min(int(out[i]), MAX_SEEDS))
    return out + BUDGET


ALL = [command for page in PAGES for command in harvest(page)]


def test_the_docs_show_commands_and_some_run():
    assert len(ALL) > 30
    assert sum(c.runnable for c in ALL) >= 15
    readme = [c for c in ALL if c.page.name == "README.md"]
    assert any(c.argv[:2] == ["tasks", "init"] for c in readme) and any("compare" in c.argv for c in readme)


@pytest.mark.parametrize("command", ALL, ids=lambda c: f"{c.page.name}:{c.line}")
def test_every_documented_command_parses(command):
    try:
        parse_args(command.argv)
    except SystemExit as exc:  # --help exits 0; a wrong option exits 2
        assert exc.code == 0, command.where


@pytest.fixture(scope="module")
def results_template(tmp_path_factory) -> Path:
    """A folder holding the examples and `results/demo`: one tiny cell with its saved model."""
    root = tmp_path_factory.mktemp("docs-template")
    shutil.copytree(ROOT / "examples", root / "examples")
    argv = ["run", "--tasks", "demo-nli-en", "--models", "minilm-l6", "--seeds", "1", "--save-model",
            "--results", str(root / "results" / "demo"), *BUDGET]
    assert main(argv) == 0
    return root


@pytest.mark.parametrize("page", [p for p in PAGES if any(c.runnable for c in harvest(p))], ids=lambda p: p.name)
def test_every_runnable_command_of_a_page_runs(page, results_template, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    shutil.copytree(results_template, work)
    monkeypatch.chdir(work)
    for command in (c for c in harvest(page) if c.runnable):
        try:
            code = main(with_budget(command.argv))
        except SystemExit as exc:
            code = exc.code
        output = capsys.readouterr()
        assert code == 0, f"{command.where} exited {code}: {output.err.strip()[-500:]}"
