"""Each feature's score over the model's earlier runs: what a run stores, reads back, charts and summarises."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

from shared.drift.detect import DriftResult
from shared.drift.history import PastRun, Score, feature_scores, past_runs
from shared.drift.report import ReportContext, render_html, render_json
from shared.drift.verdicts import FeatureDrift

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def feature(name: str = "amount", value: float = 0.08, *, method: str = "wasserstein", threshold: float = 0.1):
    drifted = value < threshold if method in ("ks", "chi2") else value >= threshold
    return FeatureDrift(name, "numeric", "ok", method, threshold, drifted, value, value=value)


def result(*features: FeatureDrift) -> DriftResult:
    return DriftResult(list(features), False, 0.0, 1000, 1000, {})


def context(history: tuple[PastRun, ...] | None) -> ReportContext:
    return ReportContext("fraud", "dev", "drift-fraud@this", NOW, "gs://b/ref", "gs://b/cur", 0.3, history)


def run(day: int, **scores: Score) -> PastRun:
    return PastRun(f"drift-fraud@2026-11-{day:02d}", f"2026-11-{day:02d}T06:00:00+00:00", scores)


def wasserstein(value: float) -> Score:
    return Score(value, 0.1, "wasserstein", value >= 0.1)


class Sparklines(HTMLParser):
    """The circles (class, tooltip) and threshold line of each sparkline, by the feature section it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.svg: str | None = None
        self.charts: dict[tuple[str, str], dict] = {}  # (section id, "spark" | "mini") -> what it holds
        self._title: list[str] | None = None
        self._circle: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a["id"]
        elif tag == "tr":
            self.section = "table"
        elif tag == "svg" and a.get("class") in ("spark", "mini"):
            self.svg = a["class"]
            self.charts[(self.section, self.svg)] = {"circles": [], "threshold_y": None, "label": a["aria-label"]}
        elif self.svg and tag == "circle":
            self._circle = a["class"]
            self.charts[(self.section, self.svg)]["circles"].append([a["class"], float(a["cy"]), ""])
        elif self.svg and tag == "line" and a.get("class") == "th":
            self.charts[(self.section, self.svg)]["threshold_y"] = float(a["y1"])
        elif self.svg and tag == "title":
            self._title = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None
        elif tag == "circle":
            self._circle = None
        elif tag == "title" and self._title is not None:
            if self._circle:
                self.charts[(self.section, self.svg)]["circles"][-1][2] = "".join(self._title)
            self._title = None

    def handle_data(self, data):
        if self._title is not None:
            self._title.append(data)


def sparklines(page: str) -> dict[tuple[str, str], dict]:
    parser = Sparklines()
    parser.feed(page)
    return parser.charts


# -- what a run stores and reads back -------------------------------------------------------------------


def test_a_run_stores_the_score_of_every_feature_its_method_scored_as_strict_json():
    missing = FeatureDrift.missing_column("gone", "current")
    constant = replace(feature("version", math.inf), status="constant", detail="constant, its value changed")
    scores = feature_scores(result(feature("amount", 0.25), constant, missing))

    assert scores == {
        "amount": {"value": 0.25, "threshold": 0.1, "method": "wasserstein", "drifted": True},
        "version": {"value": "inf", "threshold": 0.1, "method": "wasserstein", "drifted": True},
    }
    json.dumps(scores, allow_nan=False)


def test_rows_newest_first_become_runs_oldest_first_without_this_run():
    rows = [  # as DriftRunStore.history returns them
        {"run_key": "this", "started_at": "2026-11-21T06:00:00+00:00", "feature_scores": {}},
        {
            "run_key": "b",
            "started_at": "2026-11-20T06:00:00+00:00",
            "feature_scores": json.dumps({"amount": {"value": "inf", "threshold": 0.1, "method": "psi", "drifted": 1}}),
        },
        {"run_key": "a", "started_at": "2026-11-19T06:00:00+00:00", "feature_scores": None},  # before scores were
        {"run_key": "x", "started_at": "2026-11-18T06:00:00+00:00", "feature_scores": {"amount": "garbage"}},
    ]

    runs = past_runs(rows, exclude="this")

    assert [r.run_key for r in runs] == ["x", "a", "b"]
    assert runs[2].scores == {"amount": Score(math.inf, 0.1, "psi", True)}
    assert runs[0].scores == runs[1].scores == {}


# -- the sparkline ------------------------------------------------------------------------------------


def test_each_feature_charts_its_earlier_scores_with_this_run_last_and_the_threshold():
    # GIVEN three earlier runs where amount crept towards its threshold, then crossed it in the third
    history = (run(18, amount=wasserstein(0.02)), run(19, amount=wasserstein(0.05)), run(20, amount=wasserstein(0.12)))

    # WHEN this run scores it 0.08
    page = render_html(context(history), result(feature("amount", 0.08)), {})

    # THEN its section charts four points in order, this run ringed last, the drifted one red, each
    # one's tooltip saying when and what; the table's thumbnail dots the drifted run and this one
    charts = sparklines(page)
    spark = charts[("f-0", "spark")]
    classes = [c for c, _, _ in spark["circles"]]
    assert classes == ["pt", "pt", "pt d", "pt now"]
    tips = [t for _, _, t in spark["circles"]]
    assert tips == ["2026-11-18 06:00: 0.020", "2026-11-19 06:00: 0.050", "2026-11-20 06:00: 0.120 (drifted)",
                    "this run: 0.080"]  # fmt: skip
    heights = [y for _, y, _ in spark["circles"]]  # SVG y grows downwards
    assert heights[0] > heights[1] > heights[3] > spark["threshold_y"] > heights[2]
    assert spark["label"] == "Wasserstein/std over 3 earlier runs and this one"
    assert [c for c, _, _ in charts[("table", "mini")]["circles"]] == ["pt d", "pt now"]
    assert "Wasserstein/std over 3 earlier runs and this one: 0.020, 0.050, 0.120, 0.080</title>" in page
    assert "3 runs, 2026-11-18 06:00 to 2026-11-20 06:00, charted for each feature" in page


def test_runs_that_used_another_method_are_left_out_and_said_so():
    history = (
        run(18, amount=Score(0.4, 0.2, "psi", True)),
        run(19, amount=wasserstein(0.05)),
        run(20, other=wasserstein(0.3)),
    )
    page = render_html(context(history), result(feature("amount", 0.08)), {})

    spark = sparklines(page)[("f-0", "spark")]
    assert [t.split(": ")[-1] for _, _, t in spark["circles"]] == ["0.050", "0.080"]
    assert "1 earlier run used another method: not charted" in page


def test_p_values_are_charted_smaller_higher_on_a_log_scale():
    history = (run(19, amount=Score(0.5, 0.05, "ks", False)), run(20, amount=Score(0.0, 0.05, "ks", True)))
    page = render_html(context(history), result(feature("amount", 0.01, method="ks", threshold=0.05)), {})

    spark = sparklines(page)[("f-0", "spark")]
    (_, calm, _), (_, underflow, tip), (_, now, _) = spark["circles"]
    assert calm > spark["threshold_y"] > now > underflow  # p = 0 (underflowed) at the very top
    assert tip.endswith("p <0.0001 (drifted)")
    assert "p-values on a log scale" in page


def test_without_earlier_runs_or_their_scores_nothing_is_charted_and_the_report_says_why():
    first = render_html(context(()), result(feature()), {})
    unread = render_html(context(None), result(feature()), {})
    new_feature = render_html(context((run(20, other=wasserstein(0.1)),)), result(feature()), {})

    assert sparklines(first) == sparklines(unread) == sparklines(new_feature) == {}
    assert "none recorded: this is the first" in first
    assert "not available: no history is charted" in unread
    assert "No earlier run scored this feature with its method" in new_feature


# -- the JSON summary -------------------------------------------------------------------------------


def test_the_summary_has_the_history_as_one_compact_table():
    history = (
        run(19, amount=wasserstein(0.05), city=Score(0.3, 0.1, "js", True)),
        run(20, amount=Score(0.3, 0.2, "psi", True)),
    )
    js = FeatureDrift("city", "categorical", "ok", "js", 0.1, True, math.inf, value=math.inf)

    summary = render_json(context(history), result(feature("amount", 0.08), js))

    assert summary["history"] == {
        "runs": ["drift-fraud@2026-11-19", "drift-fraud@2026-11-20", "drift-fraud@this"],
        "started_at": ["2026-11-19T06:00:00+00:00", "2026-11-20T06:00:00+00:00", "2026-11-21T06:00:00+00:00"],
        "features": {
            "amount": {
                "method": "wasserstein",
                "threshold": 0.1,
                "values": [0.05, None, 0.08],
                "drifted": [False, None, False],
            },
            "city": {"method": "js", "threshold": 0.1, "values": [0.3, None, "inf"], "drifted": [True, None, True]},
        },
    }
    json.dumps(summary, allow_nan=False)
    assert render_json(context(None), result(feature()))["history"] is None


def test_twenty_runs_of_history_add_under_4_kb_per_feature():
    features = [feature(f"f{i:02d}", 0.01 * i) for i in range(25)]
    history = tuple(run(d, **{f.feature: wasserstein(f.value * d / 30) for f in features}) for d in range(1, 21))
    page = render_html(context(history), result(*features), {})
    assert len(re.findall(r'<svg class="spark"', page)) == len(re.findall(r'<svg class="mini"', page)) == 25
    assert len(page.encode()) - len(render_html(context(()), result(*features), {}).encode()) < 25 * 4_000
