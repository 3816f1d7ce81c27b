"""The drift report: a real DriftResult from small Parquet files, rendered to HTML and JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.drift.detect import DriftConfig, DriftResult, detect_drift
from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource
from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram, SideSummary
from shared.drift.history import PastRun, Score
from shared.drift.report import ReportContext, ks_note, render_html, render_json
from shared.drift.verdicts import FeatureDrift

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
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page  # the unseen category, in its tooltip
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
    for entry in render_json(context(), result, histograms)["features"]:  # which KS is exact is the engine's call
        if entry["kind"] == "numeric" and entry["ks"] is not None and not entry["ks_exact"]:
            assert re.fullmatch(r"KS between \S+ and \S+: computed on \d+ reference-quantile bins", entry["ks_note"])
    amount = next(f for f in result.features if f.feature == "amount")
    bounded = dataclasses.replace(amount, ks=0.39, ks_upper_bound=0.41, ks_exact=False)
    assert ks_note(bounded, histograms["amount"]) == (
        f"KS between 0.39 and 0.41: computed on {len(histograms['amount'].cuts) + 1} reference-quantile bins"
    )


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


# -- escaping, whatever the names: the template engine escapes, nothing is marked safe ------------------

HOSTILES = (
    HOSTILE,
    HOSTILE_UNSEEN,
    "&",
    "&amp;",
    "<0.0001",
    "' onmouseover='alert(3)",
    "</title><script>alert(4)</script>",
    "</style><svg onload=alert(5)>",
    "<!--",
    "{{ 7 * 7 }}{% raw %}",
)
# Every element and attribute the report writes: anything else in a page is an injection.
ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "div", "strong", "dl", "dt", "dd",
    "ul", "li", "p", "span", "em", "code", "b", "br", "a", "table", "thead", "tbody", "tr", "th", "td", "section",
    "svg", "line", "rect", "text", "path", "circle",
}  # fmt: skip
ATTRIBUTES = {
    "lang", "charset", "name", "content", "class", "id", "href", "title", "colspan", "viewbox", "width", "height",
    "role", "aria-label", "x", "y", "x1", "x2", "y1", "y2", "dy", "cx", "cy", "r", "d", "text-anchor",
    "font-style", "font-size",
}  # fmt: skip


class Elements(HTMLParser):
    """Every element and attribute as a browser's tokenizer sees them, and the text with entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append(tag)
        self.attributes.extend(attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.elements.append("<!-- comment -->")


def assert_only_escaped(page: str, strings: list[str]) -> None:
    """No element, attribute or comment the report does not write itself; each string shown as text."""
    parsed = Elements()
    parsed.feed(page)
    parsed.close()
    assert set(parsed.elements) <= ELEMENTS, set(parsed.elements) - ELEMENTS
    assert {name for name, _ in parsed.attributes} <= ATTRIBUTES
    assert not [v for _, v in parsed.attributes if v and v.strip().lower().startswith(("javascript:", "data:"))]
    assert not [h for h in HOSTILES if "<" in h and h in page]  # never raw: the page has them as entities
    text = "".join(parsed.text)
    for string in strings:
        assert string in text  # and a reader sees each one as it is


def with_fields(base: FeatureDrift, **fields) -> FeatureDrift:
    """The feature with fields an engine may or may not define yet (`resolution_detail`, brackets)."""
    own = {f.name for f in dataclasses.fields(FeatureDrift)}
    if set(fields) <= own:
        return dataclasses.replace(base, **fields)
    extended = dataclasses.make_dataclass(
        "FeatureDriftPlus",
        [(name, Any, None) for name in sorted(set(fields) - own)],
        bases=(FeatureDrift,),
        frozen=True,
    )
    return extended(**{**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, **fields})


texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
hostile_text = st.one_of(st.sampled_from(HOSTILES), texts, st.tuples(texts, st.sampled_from(HOSTILES)).map("".join))


@st.composite
def hostile_run(draw):
    """A run whose every name (features, categories, model, sources, run keys) may be hostile."""
    names = draw(st.lists(hostile_text, min_size=5, max_size=5, unique=True))
    categories = draw(st.lists(hostile_text.filter(lambda c: c != OTHER), min_size=4, max_size=4, unique=True))
    numeric, categorical, missing, unsupported, constant = names
    *known, unseen = categories
    side = SideSummary(100, 0, 0.5, 3.5, 2.0, 1.0)
    histograms = {
        numeric: NumericHistogram(numeric, (1.0, 2.0, 3.0), (10, 20, 30, 40), (40, 30, 20, 10), side, side),
        categorical: CategoricalHistogram(
            categorical,
            tuple(known),
            (50, 30, 20),
            (10, 30, 50),
            SideSummary(100, 0),
            SideSummary(100, 0),
            {unseen: 10},
            10,
        ),
    }
    hostile_detail = draw(hostile_text)
    features = [
        with_fields(
            FeatureDrift(
                numeric,
                "numeric",
                "ok",
                "ks",
                0.05,
                True,
                1.0,
                value=0.0,
                ks=0.4,
                ks_upper_bound=0.41,
                ks_exact=False,
                ks_p_value=0.0,
                wasserstein=0.3,
                wasserstein_error=0.01,
                psi=0.5,
                js=0.3,
                reference_rows=100,
                current_rows=100,
                reference_missing_share=0.0,
                current_missing_share=0.0,
            ),
            wasserstein_low=0.29,
            wasserstein_high=0.31,
            resolution="estimate",
            resolution_detail=hostile_detail,
        ),
        FeatureDrift(
            categorical,
            "categorical",
            "ok",
            "chi2",
            0.05,
            True,
            1.0,
            value=1e-9,
            chi2=50.0,
            chi2_p_value=1e-9,
            chi2_df=2,
            js=0.3,
            psi=0.5,
            unseen_categories=1,
            unseen_share=0.1,
        ),
        FeatureDrift(
            constant,
            "categorical",
            "constant",
            "js",
            0.1,
            True,
            math.inf,
            value=1.0,
            detail=f"constant, its value changed: {known[0]!r} -> {unseen!r}",
        ),
        FeatureDrift.missing_column(missing, "current"),
    ]
    result = DriftResult(features, True, 0.75, 100, 100, {unsupported: draw(hostile_text)})
    past = PastRun(
        draw(hostile_text),
        "2026-11-20T06:00:00+00:00",
        {numeric: Score(0.2, 0.05, "ks", False), categorical: Score(0.3, 0.05, "chi2", False)},
    )
    ctx = ReportContext(
        model=draw(hostile_text),
        env=draw(hostile_text),
        run_key=draw(hostile_text),
        generated_at=datetime(2026, 11, 21, 6, 0, tzinfo=UTC),
        reference=draw(hostile_text),
        current=draw(hostile_text),
        drift_share=0.3,
        history=(past,),
    )
    strings = [
        *names,
        *known,
        hostile_detail,
        ctx.model,
        ctx.env,
        ctx.run_key,
        ctx.reference,
        ctx.current,
    ]
    return ctx, result, histograms, strings


@given(hostile_run())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_names_categories_and_values_come_out_escaped_everywhere(run):
    ctx, result, histograms, strings = run
    page = render_html(ctx, result, histograms)
    assert_only_escaped(page, [*strings, "<0.0001"])  # the p-values: text that reads like a tag
    assert "<0.0001" not in page and "&lt;0.0001" in page
    json.dumps(render_json(ctx, result, histograms), allow_nan=False)


def test_the_real_run_with_hostile_names_has_nothing_injected(run):
    _, histograms = run
    page = render_html(context(model=f"fraud{HOSTILE}"), result_at(run, 0.3), histograms)
    assert_only_escaped(page, [HOSTILE, HOSTILE_UNSEEN, "<0.0001"])


# -- how each verdict was reached ------------------------------------------------------------------------


def numeric_feature(**fields) -> FeatureDrift:
    base = FeatureDrift("amount", "numeric", "ok", "wasserstein", 0.1, True, 0.3, value=0.3, wasserstein=0.3)
    return with_fields(base, **fields)


def section_of(page: str, index: int = 0) -> str:
    start = page.index(f'id="f-{index}"')
    return page[start : page.index("</section>", start)]


def page_with(*features: FeatureDrift, history=None) -> str:
    result = DriftResult(list(features), True, 1.0, 100, 100, {})
    return render_html(dataclasses.replace(context(), history=history), result, {})


def test_each_section_says_how_its_verdict_was_reached_and_the_bracket():
    page = page_with(
        numeric_feature(
            wasserstein_low=0.28,
            wasserstein_high=0.32,
            resolution="bracket",
            resolution_detail="Wasserstein/std in [0.28, 0.32] from the bins, clear of 0.1",
        ),
        numeric_feature(
            feature="exact",
            wasserstein_low=0.3,
            wasserstein_high=0.3,
            resolution="exact",
            resolution_detail="exact: both sides known per value",
        ),
        numeric_feature(feature="old engine", wasserstein_error=0.02),  # no bracket, no resolution: as before
    )
    first, second, third = (section_of(page, i) for i in range(3))
    assert "How this verdict was reached:</span> Wasserstein/std in [0.28, 0.32] from the bins, clear of 0.1" in first
    assert '0.300 <span class="q">in [0.280, 0.320]</span>' in first
    assert '0.300 <span class="q">exact</span>' in second and "exact: both sides known per value" in second
    assert "How this verdict" not in third and '0.300 <span class="q">± 0.020</span>' in third


def test_a_verdict_taken_inside_its_bracket_is_flagged():
    page = page_with(numeric_feature(resolution="estimate", resolution_detail="undecided: straddles 0.1"))
    assert '<p class="how warn">' in section_of(page)
