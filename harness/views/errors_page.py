"""RESULTS/errors/<task>.html: the misclassified test examples of a task as a web page, linked
from LEADERBOARD.html (harness.views.errors builds the report; Jinja2 autoescapes every text)."""
from __future__ import annotations

from pathlib import Path

from harness.views.errors import _SORT_WORDS, ErrorsReport, _num, _seed_text, _summary

PAGE_ROWS = 200  # rows per model on the page (harness errors lists them all)


def errors_page_path(results: str | Path, task: str) -> Path:
    return Path(results) / "errors" / f"{task}.html"


def render_errors_html(report: ErrorsReport, back: str = "../LEADERBOARD.html", limit: int | None = None,
                       problem: str | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.views", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("errors.html.j2").render(
        report=report, back=back, limit=limit, problem=problem, sort_words=_SORT_WORDS[report.sort],
        summary=_summary, seed_text=_seed_text, num=_num)


def write_errors_pages(results: str | Path, data: dict) -> dict[str, str]:
    """One page per task of `data` (task name -> its loaded TaskData: the run's), with the first
    PAGE_ROWS errors of each model; a task whose errors cannot be listed (no completed record, a
    changed test split) gets a page saying why. Returns
    task -> the one-line problem, for the tasks that have one."""
    from harness.errors import HarnessError
    from harness.files import atomic_write_text
    from harness.views.errors import build_errors

    problems = {}
    for task, loaded in data.items():
        try:
            report = build_errors(results, task, limit=PAGE_ROWS, data=loaded)
            html = render_errors_html(report, limit=PAGE_ROWS)
        except HarnessError as exc:
            problems[task] = str(exc)
            html = render_errors_html(ErrorsReport(task, [], [], "confidence"), problem=f"Not listed: {exc}")
        path = errors_page_path(results, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, html)
    return problems
