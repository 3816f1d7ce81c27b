"""The drift report: a real DriftResult from small Parquet files, rendered to HTML and JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.drift.detect import DriftConfig, DriftResult, detect_drift
from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource
from shared.drift.report import ReportContext, render_html, render_json

HOSTILE = "<script>alert(1)</script>"
HOSTILE_UNSEEN = '"><img src=x onerror=alert(2)>'
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"}
SVG_EMPTY = {"line", "rect", "path", "circle"}  # written as <x .../>: html.parser reports them as startend


def frame(rng: np.random.Generator, rows: int, *, current: bool) -> pa.Table:
    cities = np.array(["paris", "lyon", "nice", HOSTILE], dtype=object)
    city = cities[rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1])]
    if current:
        city[rng.random(rows) < 0.2] = HOSTILE_UNSEEN  # a category the reference never had
    columns = {
        "amount": rng.lognormal(3.0 + (0.5 if current else 0.0), 0.5, rows),  # drifted
        "score": rng.normal(0.0, 1.0, rows),  # unchanged
        "city": city,
        "empty": pa.array([None] * rows, type=pa.float64()),  # all missing on both sides
        "flag": np.ones(rows),  # constant, unchanged
        "version": np.full(rows, 2 if current else 1),  # constant whose value changed
        HOSTILE: rng.normal(0.0, 1.0, rows),  # a hostile feature name
    }
    if not current:
        columns["legacy"] = rng.normal(0.0, 1.0, rows)  # the current data lacks it
    return pa.table(columns)


def context(drift_share: float = 0.3, model: str = "fraud-scorer") -> ReportContext:
    return ReportContext(
        model=model,
        env="prod",
        run_key="drift-fraud@2026-11-21T06:00:00Z",
        generated_at=datetime(2026, 11, 21, 6, 0, tzinfo=UTC),
        reference="gs://b/ref/*.parquet",
        current="gs://b/cur/*.parquet",
        drift_share=drift_share,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drift-report")
    rng = np.random.default_rng(7)
    pq.write_table(frame(rng, 4_000, current=False), folder / "ref.parquet")
    pq.write_table(frame(rng, 3_000, current=True), folder / "cur.parquet")
    profile = DuckDbProfiler().profile(
        ParquetSource((str(folder / "ref.parquet"),)), ParquetSource((str(folder / "cur.parquet"),))
    )
    histograms = {h.feature: h for h in profile.histograms}
    return profile, histograms


def result_at(run, drift_share: float) -> DriftResult:
    profile, _ = run
    return detect_drift(profile, DriftConfig(drift_share=drift_share))


class ReportParser(HTMLParser):
    """Collects what the tests read, and every structural error a strict reader would complain about."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.table_features: list[str] = []
        self.section_features: list[str] = []
        self.verdict: tuple[str, str] | None = None
        self._capture: str | None = None
        self._text: list[str] = []
        self._verdict_class = ""

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        classes = (attributes.get("class") or "").split()
        if tag == "td" and "f" in classes:
            self._capture, self._text = "table", []
        elif tag == "h3" and "section" in self.stack:
            self._capture, self._text = "section", []
        elif tag == "div" and "verdict" in classes:
            self._verdict_class = classes[-1]
        elif tag == "strong" and self._verdict_class and self.verdict is None:
            self._capture, self._text = "verdict", []

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID | SVG_EMPTY:
            self.errors.append(f"self-closed <{tag}/>")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        text = "".join(self._text)
        if self._capture == "table" and tag == "td":
            self.table_features.append(text)
        elif self._capture == "section" and tag == "h3":
            self.section_features.append(text)
        elif self._capture == "verdict" and tag == "strong":
            self.verdict = (self._verdict_class, text)
        else:
            return
        self._capture = None

    def handle_data(self, data):
        if self._capture:
            self._text.append(data)


def parse(page: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []  # every element closed
    return parser


def test_the_edge_cases_come_out_as_statuses(run):
    # GIVEN the fixture's columns WHEN drift is detected THEN each edge case has its status (what the report shows)
    by_name = {f.feature: f for f in result_at(run, 0.3).features}
    assert by_name["amount"].drifted and by_name["amount"].status == "ok"
    assert by_name["city"].unseen_categories == 1
    assert (by_name["legacy"].status, by_name["empty"].status) == ("missing_column", "all_missing")
    assert (by_name["flag"].status, by_name["flag"].drifted) == ("constant", False)
    assert (by_name["version"].status, by_name["version"].drifted) == ("constant", True)


def test_html_parses_and_names_every_feature_in_the_table_and_a_section(run):
    _, histograms = run
    result = result_at(run, 0.3)
    parser = parse(render_html(context(), result, histograms))
    names = [f.feature for f in result.features]
    assert parser.table_features == names  # sorted by drift score, as result.features
    assert parser.section_features == names
    assert HOSTILE in names  # the parser unescaped it: what a reader sees is the name itself


def test_html_is_self_contained(run):
    _, histograms = run
    page = render_html(context(), result_at(run, 0.3), histograms)
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "http" not in page.lower()  # no xmlns, no CDN, no font: nothing that could be fetched
    assert "@import" not in page and "url(" not in page
    assert re.findall(r'href="([^"]*)"', page) and all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))


def test_hostile_strings_come_out_escaped_only(run):
    _, histograms = run
    page = render_html(context(model=f"fraud{HOSTILE}"), result_at(run, 0.3), histograms)
    assert HOSTILE not in page
    assert "<img" not in page and HOSTILE_UNSEEN not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # feature name, category and model name
    assert page.count("&lt;script&gt;") >= 4
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page  # the unseen category, in its tooltip
    assert "<title>Drift report: fraud&lt;script&gt;alert(1)&lt;/script&gt; (prod)</title>" in page


@pytest.mark.parametrize(("drift_share", "drifted"), [(0.3, True), (0.99, False)])
def test_the_verdict_matches_the_result(run, drift_share, drifted):
    _, histograms = run
    result = result_at(run, drift_share)
    assert result.dataset_drifted is drifted
    parser = parse(render_html(context(drift_share), result, histograms))
    assert parser.verdict == (("drift", "DRIFT DETECTED") if drifted else ("some", "No dataset drift"))


def test_json_is_strict_and_round_trips_in_result_order(run):
    _, histograms = run
    result = result_at(run, 0.3)
    for summary in (render_json(context(), result), render_json(context(), result, histograms)):
        text = json.dumps(summary, allow_nan=False)
        assert json.loads(text) == summary
        assert [f["feature"] for f in summary["features"]] == [f.feature for f in result.features]
        assert (summary["dataset_drifted"], summary["drift_share_threshold"], summary["js_base"]) == (True, 0.3, 2)
        assert summary["generated_at"] == "2026-11-21T06:00:00+00:00"
        assert summary["status_counts"]["missing_column"] == 1 and summary["status_counts"]["constant"] == 2
        by_name = {f["feature"]: f for f in summary["features"]}
        assert by_name["version"]["score"] == "inf"  # a constant whose value changed: non-finite, as a string
        assert set(by_name["amount"]) >= {"psi", "js", "ks", "ks_upper_bound", "wasserstein_error", "ks_note"}
        assert by_name["flag"]["ks_note"] == "KS is exact"  # one value per side, cut at it
        assert "ks_note" not in by_name["city"]
    bounded = next(f for f in render_json(context(), result, histograms)["features"] if f["feature"] == "amount")
    assert re.fullmatch(r"KS between \S+ and \S+: computed on \d+ reference-quantile bins", bounded["ks_note"])


def test_an_empty_current_window_renders_a_clear_outcome(tmp_path):
    rng = np.random.default_rng(3)
    reference = frame(rng, 500, current=False).drop_columns(["legacy"])
    pq.write_table(reference, tmp_path / "ref.parquet")
    pq.write_table(reference.slice(0, 0), tmp_path / "cur.parquet")
    profile = DuckDbProfiler().profile(
        ParquetSource((str(tmp_path / "ref.parquet"),)), ParquetSource((str(tmp_path / "cur.parquet"),))
    )
    result = detect_drift(profile)
    page = render_html(context(), result, {h.feature: h for h in profile.histograms})
    parser = parse(page)
    assert parser.verdict == ("none", "No dataset drift")
    assert "the current window has no rows" in page
    json.dumps(render_json(context(), result), allow_nan=False)


def test_25_features_stay_small(tmp_path):
    rng = np.random.default_rng(5)

    def side(rows: int, current: bool) -> pa.Table:
        columns = {
            f"n{i:02d}": rng.normal(10.0 * i + (0.5 if current and i < 4 else 0), 1 + i / 10, rows) for i in range(20)
        }
        values = np.array([f"v{i:02d}" for i in range(20)], dtype=object)
        columns.update({f"c{i}": values[rng.integers(0, 20, rows)] for i in range(5)})
        return pa.table(columns)

    pq.write_table(side(20_000, False), tmp_path / "ref.parquet")
    pq.write_table(side(20_000, True), tmp_path / "cur.parquet")
    profile = DuckDbProfiler().profile(
        ParquetSource((str(tmp_path / "ref.parquet"),)), ParquetSource((str(tmp_path / "cur.parquet"),))
    )
    page = render_html(context(), detect_drift(profile), {h.feature: h for h in profile.histograms})
    assert len(parse(page).table_features) == 25
    assert len(page.encode()) < 300_000  # ~190 KB measured; a JS-bundled report is 5 MB whatever the data
