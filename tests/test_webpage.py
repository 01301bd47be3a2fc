"""LEADERBOARD.html: built from the leaderboard JSON, self-contained, and checked in a real
headless Chromium (skipped, with the reason, where Chromium, its driver or selenium is missing)."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.metrics import metric_names
from harness.views.leaderboard import write_leaderboard_files
from helpers import write_results
from test_leaderboard import example_records


class TableReader(HTMLParser):
    """Collects, per leaderboard table, each data cell's text and attributes; and every URL used."""

    def __init__(self):
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}  # data-cell id -> {"text", "sort"}
        self.urls: list[str] = []
        self.tags: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for key in ("src", "href"):
            if attrs.get(key):
                self.urls.append(attrs[key])
        if tag == "td" and "data-cell" in attrs:
            self._open = attrs["data-cell"]
            self.cells[self._open] = {"text": "", "sort": attrs.get("data-sort", "")}

    def handle_endtag(self, tag):
        if tag == "td":
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.cells[self._open]["text"] += data


@pytest.fixture()
def board_dir(tmp_path) -> Path:
    root = write_results(tmp_path / "results", example_records())
    (root / "sent-fr" / "camembert" / "seed-0-curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # an image to link
    write_leaderboard_files(root)
    return root


def shown_number(text: str) -> float:
    return float(re.match(r"\s*([0-9.]+)", text).group(1))


def test_page_shows_the_json_numbers_and_marks(board_dir):
    data = json.loads((board_dir / "LEADERBOARD.json").read_text())
    reader = TableReader()
    reader.feed((board_dir / "LEADERBOARD.html").read_text())
    assert len(reader.cells) == len(data["cells"])
    for cell in data["cells"]:
        shown = reader.cells[f"point__{cell['metric']}__{cell['task']}__{cell['model']}"]
        if cell["mean"] is None:
            assert shown["text"].strip() == {"missing": "–", "failed": "failed"}[cell["status"]]
            continue
        assert shown_number(shown["text"]) == pytest.approx(round(cell["mean"], 2), abs=1e-9)
        assert float(shown["sort"]) == pytest.approx(cell["mean"])
        if cell["half_width"] is not None:
            assert f"± {cell['half_width']:.2f}" in shown["text"]
        assert ("†" in shown["text"]) == cell["tie_with_best"]
    assert "failed" in reader.cells["point__accuracy__nli-en__xlmr"]["text"]  # 2 of 3 seeds; 1 failed
    assert reader.cells["point__accuracy__nli-en__distil"]["text"].strip() == "–"


def test_page_is_self_contained_with_charts_and_image_links(board_dir):
    html = (board_dir / "LEADERBOARD.html").read_text()
    reader = TableReader()
    reader.feed(html)
    assert "link" not in reader.tags  # no external stylesheet
    assert not re.search(r"<script[^>]+src=", html)
    assert not [u for u in reader.urls if re.match(r"[a-z]+://", u)], reader.urls
    assert html.count("<svg") == len(metric_names())  # one chart per registered metric, inline
    assert 'id="point__accuracy__sent-fr__camembert__0"' in html  # the chart's mark the page hooks on
    details = json.loads(re.search(r'id="cell-details">(.*?)</script>', html, re.S).group(1))
    seed0 = details["point__accuracy__sent-fr__camembert"]["per_seed"][0]
    assert seed0["links"] == {"curves": "sent-fr/camembert/seed-0-curves.png"}
    assert "Throughput" in html and "Failed runs" in html and "RuntimeError: CUDA error" in html


def test_cli_html_format_links_relative_to_the_output(board_dir, tmp_path, capsys):
    out = tmp_path / "site" / "index.html"
    out.parent.mkdir()
    assert main(["leaderboard", str(board_dir), "--format", "html", "--output", str(out)]) == 0
    assert '"../results/sent-fr/camembert/seed-0-curves.png"' in out.read_text()


def test_page_has_a_legend_hideable_throughput_columns_and_a_title_from_the_suite(tmp_path):
    records = example_records()
    for record in records:
        record.setdefault("config", {}).setdefault("options", {})["suite"] = "demo"
    root = write_results(tmp_path / "results", records)
    write_leaderboard_files(root)
    html = (root / "LEADERBOARD.html").read_text()
    assert "<title>Leaderboard: the demo suite (results)</title>" in html
    assert html.count('class="legend"') == len(metric_names())  # one under each metric's chart, naming what the colours mean
    assert "not significantly different from it" in html and "95% t-interval" in html
    for header in ("train samples/s", "peak memory (MB)", "device"):
        assert f'checked> {header}</label>' in html  # a box to hide each throughput column

    records[0]["config"]["options"]["suite"] = "other"  # two suites in one folder: the folder names the page
    root = write_results(tmp_path / "mixed", records)
    write_leaderboard_files(root)
    assert "<title>Leaderboard: mixed</title>" in (root / "LEADERBOARD.html").read_text()


# --------------------------------------------------------------------------- a real browser
def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[browser]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def test_page_in_headless_chromium(board_dir, tmp_path):
    from selenium.webdriver.common.by import By

    data = json.loads((board_dir / "LEADERBOARD.json").read_text())
    driver = _browser()
    try:
        driver.get((board_dir / "LEADERBOARD.html").resolve().as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []

        def models(metric: str) -> list[str]:
            rows = driver.find_elements(By.CSS_SELECTOR, f"#table-{metric} tbody tr")
            return [row.get_attribute("data-model") for row in rows]

        assert models("accuracy") == data["ranking"]["accuracy"]
        for cell in data["cells"]:  # what the browser renders equals the JSON leaderboard
            td = driver.find_element(By.CSS_SELECTOR, f'td[data-cell="point__{cell["metric"]}__{cell["task"]}__{cell["model"]}"]')
            if cell["mean"] is not None:
                assert shown_number(td.text) == pytest.approx(round(cell["mean"], 2), abs=1e-9)

        # sort by the sent-fr column: descending by mean, then ascending on a second click
        header = driver.find_element(By.CSS_SELECTOR, '#table-accuracy th[data-task="sent-fr"] button')
        means = {c["model"]: c["mean"] for c in data["cells"] if c["metric"] == "accuracy" and c["task"] == "sent-fr"}
        header.click()
        assert models("accuracy") == sorted(means, key=lambda m: -means[m])
        header.click()
        assert models("accuracy") == sorted(means, key=lambda m: means[m])
        model_header = driver.find_element(By.CSS_SELECTOR, "#table-accuracy thead th:nth-child(2) button")
        model_header.click()
        assert models("accuracy") == sorted(means)

        # a click on a cell shows its per-seed values and image links
        driver.find_element(By.CSS_SELECTOR, 'td[data-cell="point__accuracy__sent-fr__camembert"]').click()
        panel = driver.find_element(By.ID, "details")
        assert panel.is_displayed()
        seeds = [li.text for li in panel.find_elements(By.CSS_SELECTOR, "li.seed")]
        cell = next(c for c in data["cells"] if (c["metric"], c["task"], c["model"]) == ("accuracy", "sent-fr", "camembert"))
        assert [s.split(":")[1].split()[0] for s in seeds] == [f"{v:.2f}" for v in cell["values"]]
        assert panel.find_element(By.LINK_TEXT, "curves").get_attribute("href").endswith("sent-fr/camembert/seed-0-curves.png")

        # the chart's marks carry the same per-seed values as a hover title
        mark = driver.find_element(By.ID, "point__accuracy__sent-fr__camembert__0")
        title = mark.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert f"seed 1: {cell['values'][1]:.2f}" in title
        driver.set_window_size(1280, 1800)  # fits a 1280 px screen: no horizontal scroll
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 1280
        box = driver.find_element(By.CSS_SELECTOR, '#throughput-columns input[data-column="3"]')
        box.click()  # hide the first throughput column
        assert not driver.find_element(By.CSS_SELECTOR, "#table-throughput tbody tr td:nth-child(4)").is_displayed()
        assert driver.save_screenshot(str(tmp_path / "leaderboard.png"))  # kept in pytest's tmp, not the repo
        assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
        assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    finally:
        driver.quit()
