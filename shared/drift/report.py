"""The drift report people read (one self-contained HTML file) and the JSON summary machines read.

Pure functions: a `DriftResult` (and the histograms behind it) in, a string or a dict out; the caller
writes them to storage. The HTML carries no JavaScript and references nothing outside itself (an
inline style sheet, inline SVG charts, system fonts), so it opens the same from a bucket, a mail
attachment or an offline laptop, and it stays small: about 190 KB for 25 features, where a report
that ships a charting bundle weighs 5 MB whatever the data (users reported 600 MB ones).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from shared.drift.detect import DriftResult
from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram
from shared.drift.statistics import (
    COARSE_BINS,
    DEFAULT_METHODS,
    JS_BASE,
    P_VALUE_METHODS,
    STATUSES,
    FeatureDrift,
    coarse_bins,
)

Histogram = NumericHistogram | CategoricalHistogram

_NONE = "\N{EN DASH}"  # a statistic that does not apply
TOP_CATEGORIES = 20  # categories charted per feature, by reference count; the rest pooled in one row


@dataclass(frozen=True)
class ReportContext:
    """What the report says about the run, besides the statistics."""

    model: str
    env: str
    run_key: str
    generated_at: datetime
    reference: str  # the sources in words: "gs://b/ref/*.parquet", "table x, 2026-11-20T00:00 to ..."
    current: str
    drift_share: float | None = None  # the dataset's drifted-share threshold, when the caller knows it


# -- JSON -----------------------------------------------------------------------------------------


def render_json(
    context: ReportContext, result: DriftResult, histograms: Mapping[str, Histogram] | None = None
) -> dict[str, Any]:
    """The run as strict JSON (`json.dumps(..., allow_nan=False)` accepts it).

    Non-finite floats (a constant column whose value changed scores inf, an unbounded Wasserstein
    error is inf) are written as the strings "inf", "-inf" and "nan": JSON has no such numbers, and a
    string keeps what null would lose. Every `FeatureDrift` field is there, in `result.features` order
    (most drifted first), plus a `ks_note` per numeric feature saying whether its KS is exact; given
    the histograms, the note names how many bins a bounded KS was computed on.
    """
    statuses = Counter(f.status for f in result.features)
    features = []
    for feature in result.features:
        entry = asdict(feature)
        if feature.kind == "numeric":
            entry["ks_note"] = ks_note(feature, (histograms or {}).get(feature.feature))
        features.append(entry)
    summary = {
        "model": context.model,
        "env": context.env,
        "run_key": context.run_key,
        "generated_at": context.generated_at.isoformat(),
        "reference": context.reference,
        "current": context.current,
        "dataset_drifted": result.dataset_drifted,
        "drifted_share": result.drifted_share,
        "drift_share_threshold": context.drift_share,
        "reference_rows": result.reference_rows,
        "current_rows": result.current_rows,
        "features_total": len(result.features),
        "features_judged": sum(f.counted for f in result.features),
        "features_drifted": sum(f.drifted for f in result.features),
        "status_counts": {
            status: statuses.get(status, 0) for status in (*STATUSES, *sorted(set(statuses) - set(STATUSES)))
        },
        "unsupported": dict(result.unsupported),
        "js_base": JS_BASE,
        "non_finite_numbers": 'written as the strings "inf", "-inf", "nan"',
        "features": features,
    }
    return _strict(summary)


def ks_note(feature: FeatureDrift, hist: Histogram | None = None) -> str | None:
    """'KS is exact', or the bracket the true KS lies in and what it was computed on (None: no KS)."""
    if feature.ks is None:
        return None
    if feature.ks_exact:
        return "KS is exact"
    bins = f"{len(hist.cuts) + 1} reference-quantile bins" if isinstance(hist, NumericHistogram) else "fine bins"
    return f"KS between {feature.ks:.4g} and {feature.ks_upper_bound:.4g}: computed on {bins}"


def _strict(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


# -- formatting -----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return _NONE
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _stat(value: float | None) -> str:
    """A statistic in the table: fixed decimals so a column reads at a glance."""
    if value is None or math.isnan(value) or math.isinf(value) or value == 0:
        return _fmt(value)
    if abs(value) < 0.001:
        return "<0.001"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def _p(value: float | None) -> str:
    if value is not None and value < 1e-4:  # 0 included: a p-value that underflowed
        return "<0.0001"
    return _fmt(value, 2)


def _pct(share: float | None) -> str:
    if share is None or math.isnan(share):
        return _NONE
    if share == 0:
        return "0%"
    if abs(share) < 0.001:
        return f"{share * 100:.2g}%"
    return f"{share * 100:.1f}%"


def _rows(n: int | None) -> str:
    return _NONE if n is None else f"{n:,}"


def _when(moment: datetime) -> str:
    if moment.tzinfo is not None and moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.isoformat(sep=" ", timespec="seconds")


def _method_text(kind: str | None, method: str | None, threshold: float | None) -> str:
    t = _fmt(threshold)
    return {
        "wasserstein": f"Wasserstein distance / reference std ≥ {t}",
        "psi": f"PSI ≥ {t}" + (f" (on {COARSE_BINS} reference-quantile bins)" if kind == "numeric" else ""),
        "js": f"Jensen-Shannon distance (base {JS_BASE}) ≥ {t}",
        "ks": f"Kolmogorov-Smirnov p-value < {t}",
        "chi2": f"chi-square p-value < {t}",
    }.get(method or "", f"{method} at {t}")


def _value_vs_threshold(f: FeatureDrift) -> str:
    if f.value is None or f.threshold is None or f.method is None:
        return _NONE
    if f.method in P_VALUE_METHODS:
        sign = "<" if f.value < f.threshold else "≥"
        return f"p {_p(f.value)} {sign} {_fmt(f.threshold)}"
    sign = "≥" if f.value >= f.threshold else "<"
    return f"{_stat(f.value)} {sign} {_fmt(f.threshold)}"


def _ks_cell(f: FeatureDrift) -> str:
    if f.ks is None:
        return _NONE
    if f.ks_exact:
        return f'{_stat(f.ks)} <span class="q">exact</span>'
    return f'{_stat(f.ks)} <span class="q">≤ {_stat(f.ks_upper_bound)}</span>'


def _p_cell(f: FeatureDrift) -> str:
    if f.ks_p_value is not None:
        return f'<span title="Kolmogorov-Smirnov p-value">{_p(f.ks_p_value)}</span>'
    if f.chi2_p_value is not None:
        return f'<span title="chi-square p-value">{_p(f.chi2_p_value)} <span class="q">χ²</span></span>'
    return _NONE


def _wasserstein_cell(f: FeatureDrift) -> str:
    if f.wasserstein is None:
        return _NONE
    if f.wasserstein_error is None:
        return _stat(f.wasserstein)
    return f'{_stat(f.wasserstein)} <span class="q">± {_stat(f.wasserstein_error)}</span>'


def _missing_cell(f: FeatureDrift) -> str:
    if f.reference_missing_share is None and f.current_missing_share is None:
        return _NONE
    text = f"{_pct(f.reference_missing_share)} → {_pct(f.current_missing_share)}"
    return f'<b class="warn">{text}</b>' if f.missing_change and abs(f.missing_change) >= 0.05 else text


def _unseen_cell(f: FeatureDrift) -> str:
    if f.unseen_categories is None:
        return _NONE
    if not f.unseen_categories:
        return "0"
    return f'<b class="warn">{f.unseen_categories} ({_pct(f.unseen_share)})</b>'


def _badge(f: FeatureDrift) -> str:
    if f.drifted:
        return '<span class="b bd">drifted</span>'
    if f.counted:
        return '<span class="b bo">no</span>'
    return '<span class="b bn">not judged</span>'


# -- HTML -----------------------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1f2328;background:#f6f7f9}
main{max-width:1240px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 14px}h2{font-size:18px;margin:30px 0 10px}
h3{font-size:16px;margin:0;word-break:break-all}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
.verdict{border-radius:8px;padding:14px 18px;margin:0 0 16px;color:#fff}
.verdict strong{font-size:22px;letter-spacing:.02em;display:block}
.verdict.drift{background:#b42318}.verdict.ok{background:#1a7f37}.verdict.none{background:#57606a}
.verdict.some{background:#9a6700}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:14px 18px;margin:0 0 14px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
.meta dt{color:#57606a}.meta dd{margin:0;word-break:break-all}
.note{color:#424a53;font-size:13px}.note ul{margin:6px 0;padding-left:20px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{padding:5px 7px;border-bottom:1px solid #e4e8ec;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600;vertical-align:bottom}th.n{text-align:right}th .q{white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.f{max-width:230px;word-break:break-all;font-weight:600}
tr.dr td{background:#fff4f2}td.detail{color:#57606a;font-style:italic}
.q{color:#6e7781;font-size:11px}.warn{color:#b42318;font-weight:600}
.b{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;white-space:nowrap}
.bd{background:#b42318;color:#fff}.bo{background:#dafbe1;color:#1a7f37}.bn{background:#eaeef2;color:#57606a}
.tw{overflow-x:auto;border:1px solid #d8dee4;border-radius:8px}
section.feat{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:14px 18px;margin:14px 0}
section.feat.drifted{border-left:5px solid #b42318}
.fh{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin-bottom:8px}
.fh .top{margin-left:auto;font-size:12px}
.fb{display:flex;gap:22px;flex-wrap:wrap}.chart{flex:1 1 640px;min-width:0}
svg{width:100%;max-width:860px;height:auto;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.stats{flex:0 0 300px;align-self:flex-start;display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;
margin:0;font-size:13px}
.stats dt{color:#57606a}.stats dd{margin:0;font-variant-numeric:tabular-nums}
.legend{font-size:12px;color:#424a53;margin:0 0 4px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px -1px 10px}
.sw.r,.r{fill:#4c78a8;background:#4c78a8}.sw.c,.c{fill:#f58518;background:#f58518}
.sw.u,.u{fill:#b279a2;background:#b279a2}
.g{stroke:#e4e8ec}.ax{stroke:#8c959f}.t{fill:#57606a}.tl{fill:#1f2328}
"""


def render_html(context: ReportContext, result: DriftResult, histograms: Mapping[str, Histogram]) -> str:
    """The report as one HTML document: summary, feature table, one section per feature with its chart.

    Every string that comes from data or configuration (model, feature and category names, sources)
    is escaped; anchors are by position (`#f-3`), never by name.
    """
    title = f"Drift report: {context.model} ({context.env})"
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        _summary(context, result),
        _table(result),
        '<h2 id="details">Features in detail</h2>',
    ]
    parts.extend(_section(i, f, histograms.get(f.feature)) for i, f in enumerate(result.features))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _summary(context: ReportContext, result: DriftResult) -> str:
    judged = [f for f in result.features if f.counted]
    drifted = [f for f in result.features if f.drifted]
    threshold = context.drift_share
    if not judged:
        kind, verdict = "none", "No dataset drift"
        why = "no feature could be judged" + (": the current window has no rows" if result.current_rows == 0 else "")
    else:
        if result.dataset_drifted:
            kind, verdict = "drift", "DRIFT DETECTED"
        else:  # amber when some features drifted: "no dataset drift" must not read as "nothing moved"
            kind, verdict = ("some" if drifted else "ok"), "No dataset drift"
        why = f"{len(drifted)} of {len(judged)} judged features drifted: share {_pct(result.drifted_share)}"
        if threshold is not None:
            why += f" {'≥' if result.drifted_share >= threshold else '<'} threshold {_pct(threshold)}"
    statuses = Counter(f.status for f in result.features)
    kinds = Counter(f.kind for f in result.features if f.kind)
    status_text = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in statuses.most_common())
    kind_text = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    names = ", ".join(_e(f.feature) for f in drifted[:12]) + (", …" if len(drifted) > 12 else "")
    rows = [
        ("Reference", f"{_rows(result.reference_rows)} rows · {_e(context.reference)}"),
        ("Current", f"{_rows(result.current_rows)} rows · {_e(context.current)}"),
        ("Features", f"{len(result.features)} ({kind_text or 'none'}) · {status_text or 'none'}"),
    ]
    if drifted:
        rows.append(("Drifted", names))
    if result.unsupported:
        skipped = ", ".join(f"{_e(name)} ({_e(kind)})" for name, kind in result.unsupported.items())
        rows.append(("Not analysed", f"unsupported column types: {skipped}"))
    rows += [("Generated", _e(_when(context.generated_at))), ("Run key", f"<code>{_e(context.run_key)}</code>")]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (
        f'<div class="verdict {kind}"><strong>{verdict}</strong>{_e(why)}</div>'
        f'<div class="card"><dl class="meta">{meta}</dl></div>'
        f'<div class="card note">{_methods_note(result, threshold)}</div>'
    )


def _methods_note(result: DriftResult, threshold: float | None) -> str:
    used = Counter((f.kind, f.method, f.threshold) for f in result.features if f.kind and f.method)
    items = "".join(
        f"<li>{_e(kind)}: {_e(_method_text(kind, method, t))} <span class='q'>({n} feature{'s' * (n != 1)})</span></li>"
        for (kind, method, t), n in sorted(used.items(), key=lambda item: (item[0][0], -item[1]))
    )
    num_method, num_t = DEFAULT_METHODS["numeric"]
    cat_method, cat_t = DEFAULT_METHODS["categorical"]
    share = f" reaches {_pct(threshold)}" if threshold is not None else " reaches the threshold"
    return (
        "<strong>Methods.</strong> A feature drifts when its method's value crosses its threshold:"
        f"<ul>{items or '<li>no feature was judged</li>'}</ul>"
        f"Defaults: numeric {_e(_method_text('numeric', num_method, num_t))} (Evidently's default for large"
        " references: in units of the reference's spread); categorical"
        f" {_e(_method_text('categorical', cat_method, cat_t))}. The Jensen-Shannon distance here uses log base"
        f" {JS_BASE} (range 0 to 1), as NannyML does; Evidently uses natural log, where the same data score"
        " about 17% lower (0.1 in natural log is 0.12 in base 2). Numeric PSI and JS use"
        f" {COARSE_BINS} reference-quantile bins. KS and Wasserstein are computed from fine bins: KS shows"
        " <em>exact</em> or the upper bound of the interval holding the true value; Wasserstein shows ± its"
        f" error bound. The dataset drifts when the share of drifted features among those judged{share};"
        " features missing a column, empty, all missing or constant and unchanged are not judged."
    )


_HEAD = (  # (column, a second line under it)
    ("feature", ""),
    ("kind", ""),
    ("status", ""),
    ("drifted", ""),
    ("method", ""),
    ("value", "vs threshold"),
    ("PSI", ""),
    ("JS", f"base {JS_BASE}"),
    ("KS", "≤ bound"),
    ("p-value", "KS or χ²"),
    ("Wasserstein", "/std ± error"),
    ("missing", "ref → cur"),
    ("unseen", "categories"),
)


def _table(result: DriftResult) -> str:
    head = "".join(
        f"<th{' class=n' if i >= 5 else ''}>{_e(h)}{f'<br><span class=q>{_e(sub)}</span>' if sub else ''}</th>"
        for i, (h, sub) in enumerate(_HEAD)
    )
    body = []
    for i, f in enumerate(result.features):
        cells = [
            f'<td class="f"><a href="#f-{i}">{_e(f.feature)}</a></td>',
            f"<td>{_e(f.kind or _NONE)}</td>",
            f"<td>{_e(f.status.replace('_', ' '))}</td>",
            f"<td>{_badge(f)}</td>",
        ]
        if f.status == "ok":
            cells += [
                f"<td>{_e(f.method or _NONE)}</td>",
                f'<td class="n">{_e(_value_vs_threshold(f))}</td>',
                f'<td class="n">{_stat(f.psi)}</td>',
                f'<td class="n">{_stat(f.js)}</td>',
                f'<td class="n">{_ks_cell(f)}</td>',
                f'<td class="n">{_p_cell(f)}</td>',
                f'<td class="n">{_wasserstein_cell(f)}</td>',
                f'<td class="n">{_missing_cell(f)}</td>',
                f'<td class="n">{_unseen_cell(f)}</td>',
            ]
        else:
            cells.append(f'<td colspan="{len(_HEAD) - 4}" class="detail">{_e(f.detail or f.status)}</td>')
        body.append(f"<tr{' class=dr' if f.drifted else ''}>{''.join(cells)}</tr>")
    return (
        '<h2 id="features">Features, most drifted first</h2>'
        f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _section(index: int, f: FeatureDrift, hist: Histogram | None) -> str:
    chart, why_not = "", ""
    if hist is None:
        why_not = f.detail or "no histogram for this feature"
    elif sum(hist.reference_counts) == 0 or (
        sum(hist.current_counts) + getattr(hist, "unseen_total", 0) == 0  # unseen only: still a chart
    ):
        why_not = f.detail or "no values on one side"
    elif isinstance(hist, NumericHistogram):
        chart = _numeric_chart(hist)
    else:
        chart = _categorical_chart(hist)
    if why_not:
        chart = f'<p class="note">No chart: {_e(why_not)}.</p>'
    status = "" if f.status == "ok" else f'<span class="q">{_e(f.status.replace("_", " "))}</span>'
    detail = f'<p class="note">{_e(f.detail)}</p>' if f.detail and not why_not else ""
    return (
        f'<section class="feat{" drifted" if f.drifted else ""}" id="f-{index}">'
        f'<div class="fh"><h3>{_e(f.feature)}</h3>{_badge(f)}<span class="q">{_e(f.kind or "")}</span>{status}'
        f'<a class="top" href="#features">↑ table</a></div>{detail}'
        f'<div class="fb"><div class="chart">{chart}</div><dl class="stats">{_stats(f, hist)}</dl></div></section>'
    )


def _stats(f: FeatureDrift, hist: Histogram | None) -> str:
    rows: list[tuple[str, str]] = []
    if f.method:
        rows.append(("method", _e(_method_text(f.kind, f.method, f.threshold))))
    if f.value is not None:
        rows.append(("value", _e(_value_vs_threshold(f))))
    if f.reference_rows is not None or f.current_rows is not None:
        rows.append(("rows", f"{_rows(f.reference_rows)} → {_rows(f.current_rows)}"))
    if f.reference_missing_share is not None or f.current_missing_share is not None:
        rows.append(("missing", _missing_cell(f)))
    if isinstance(hist, NumericHistogram):
        for name in ("mean", "std", "minimum", "maximum"):
            before, after = getattr(hist.reference, name), getattr(hist.current, name)
            if before is not None or after is not None:
                rows.append((name.replace("imum", ""), f"{_fmt(before, 4)} → {_fmt(after, 4)}"))
    if f.psi is not None:
        rows.append(("PSI", _stat(f.psi)))
    if f.js is not None:
        rows.append((f"JS (base {JS_BASE})", _stat(f.js)))
    if f.ks is not None:
        rows.append(("KS", f"{_ks_cell(f)}<br><span class='q'>{_e(ks_note(f, hist))}</span>"))
        rows.append(("KS p-value", _p(f.ks_p_value)))
    if f.wasserstein is not None:
        rows.append(("Wasserstein/std", _wasserstein_cell(f)))
    if f.chi2 is not None:
        rows.append(("chi-square", f"{_fmt(f.chi2, 4)} <span class='q'>df {f.chi2_df}</span>"))
        rows.append(("chi-square p", _p(f.chi2_p_value)))
    if f.unseen_categories is not None:
        rows.append(("unseen", _unseen_cell(f)))
    return "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)


# -- charts (inline SVG) --------------------------------------------------------------------------

_LEGEND = '<div class="legend"><span class="sw r"></span>reference<span class="sw c"></span>current{extra}</div>'


def _ticks(value: float, most: int = 5) -> list[float]:
    """Round tick values from 0 to at least `value`: a step of 1, 2, 2.5 or 5 x 10^k, at most `most` steps."""
    if value <= 0:
        return [0.0, 1.0]
    power = 10 ** math.floor(math.log10(value / most))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power * most >= value * 0.999999)
    return [step * k for k in range(math.ceil(value / step - 1e-9) + 1)]


def _tick_label(share: float) -> str:
    return f"{round(share * 100, 6):g}%"


def _coarse_edges(hist: NumericHistogram, ref: np.ndarray, cur: np.ndarray) -> list[float]:
    """Value at each coarse bin boundary: the data's min, the cut each coarse bin ends at, the data's max.

    Read back from the coarse counts, so they agree with `coarse_bins` whatever it merges: a coarse
    bin ends at the first fine bin where the cumulative count (both sides) reaches the coarse one.
    """
    fine = np.cumsum(np.asarray(hist.reference_counts, dtype=np.int64) + np.asarray(hist.current_counts))
    ends = np.searchsorted(fine, np.cumsum(ref + cur), side="left")
    ends[-1] = len(fine) - 1  # the last coarse bin runs to +inf, past the reference's range
    lows = [s.minimum for s in (hist.reference, hist.current) if s.minimum is not None]
    highs = [s.maximum for s in (hist.reference, hist.current) if s.maximum is not None]
    low, high = (min(lows), max(highs)) if lows and highs else (-math.inf, math.inf)
    inner = [hist.cuts[e] if e < len(hist.cuts) else high for e in ends[:-1]]
    return [low, *(min(max(v, low), high) for v in inner), high]


def _numeric_chart(hist: NumericHistogram) -> str:
    ref, cur = coarse_bins(hist)
    if len(ref) == 1:  # one bin holds every value (a constant, a narrow integer range): bars would say nothing
        sides = []
        for name, summary in (("reference", hist.reference), ("current", hist.current)):
            low, high = summary.minimum, summary.maximum
            value = f"always {_fmt(low, 6)}" if low == high else f"from {_fmt(low, 6)} to {_fmt(high, 6)}"
            sides.append(f"{name} {value}")
        return f'<p class="note">One bin holds every value: {"; ".join(sides)}.</p>'
    edges = _coarse_edges(hist, ref, cur)
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    width, height, left, right, top, bottom = 720, 230, 46, 14, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(float(max(ref_share.max(), cur_share.max())))
    y_top = ticks[-1]
    slot = plot_w / len(ref)
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{_e(hist.feature)}: share of values per bin, reference vs current">'
    ]
    for tick in ticks:
        y = top + plot_h * (1 - tick / y_top)
        out.append(f'<line class="g" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="t" x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{_tick_label(tick)}</text>')
    for i in range(len(ref)):
        x0 = left + i * slot
        lo, hi = edges[i], edges[i + 1]
        span = f"[{_fmt(lo, 4)}, {_fmt(hi, 4)}]" if i == 0 else f"({_fmt(lo, 4)}, {_fmt(hi, 4)}]"
        tip = f"bin {i + 1}, values in {span}: reference {_pct(ref_share[i])}, current {_pct(cur_share[i])}"
        for cls, share, dx in (("r", ref_share[i], 0.1), ("c", cur_share[i], 0.5)):
            h = plot_h * share / y_top
            out.append(
                f'<rect class="{cls}" x="{x0 + slot * dx:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.4:.1f}"'
                f' height="{h:.1f}"><title>{_e(tip)}</title></rect>'
            )
    base = top + plot_h
    out.append(f'<line class="ax" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>')
    for i, edge in enumerate(edges):
        x = left + i * slot
        anchor = "start" if i == 0 else ("end" if i == len(edges) - 1 else "middle")
        out.append(f'<line class="ax" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}"/>')
        out.append(f'<text class="t" x="{x:.1f}" y="{base + 16}" text-anchor="{anchor}">{_fmt(edge, 4)}</text>')
    caption = (
        f"bins of about {100 / len(ref):.0f}% of the reference each (edges: reference quantiles, data min and max)"
        if len(ref) > 1
        else "one bin: all values"
    )
    out.append(f'<text class="t" x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">{caption}</text>')
    out.append("</svg>")
    return _LEGEND.format(extra="") + "".join(out)


def _categorical_chart(hist: CategoricalHistogram) -> str:
    ref_total = sum(hist.reference_counts) or 1
    cur_total = (sum(hist.current_counts) + hist.unseen_total) or 1
    named = [(c, r, k) for c, r, k in zip(hist.categories, hist.reference_counts, hist.current_counts, strict=True)]
    ranked = sorted((item for item in named if item[0] != OTHER), key=lambda item: -item[1])
    shown, rest = ranked[:TOP_CATEGORIES], ranked[TOP_CATEGORIES:]
    rows: list[tuple[str, float | None, float, str]] = [(c, r / ref_total, k / cur_total, "") for c, r, k in shown]
    pooled = rest + [item for item in named if item[0] == OTHER]
    if pooled:
        label = "all other categories" if any(c == OTHER for c, _, _ in pooled) else f"{len(rest)} other categories"
        rows.append((label, sum(r for _, r, _ in pooled) / ref_total, sum(k for _, _, k in pooled) / cur_total, "pool"))
    for name, count in hist.unseen.items():
        rows.append((name, None, count / cur_total, "new"))
    unlisted = hist.unseen_total - sum(hist.unseen.values())
    if unlisted > 0:
        rows.append(("other unseen categories", None, unlisted / cur_total, "pool new"))

    width, label_w, value_w, row_h, top = 720, 190, 52, 24, 4
    bar_w = width - label_w - value_w
    height = top + row_h * len(rows) + 4
    x_top = max(max(r or 0.0, c) for _, r, c, _ in rows) or 1.0
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{_e(hist.feature)}: share of values per category, reference vs current">'
    ]
    out.append(f'<line class="ax" x1="{label_w}" x2="{label_w}" y1="{top}" y2="{height - 4}"/>')
    for j, (name, ref_share, cur_share, tag) in enumerate(rows):
        y = top + j * row_h
        new = "new" in tag
        shown_name = name if len(name) <= 26 else name[:25] + "…"
        if new and "pool" not in tag:
            shown_name = "new: " + (name if len(name) <= 21 else name[:20] + "…")
        tip = (
            f"{name}{' (never in the reference)' if new else ''}: "
            f"reference {_pct(ref_share) if ref_share is not None else '0%'}, current {_pct(cur_share)}"
        )
        style = ' font-style="italic"' if "pool" in tag else ""
        out.append(
            f'<text class="{"t" if tag else "tl"}" x="{label_w - 6}" y="{y + 16}" text-anchor="end"{style}>'
            f"<title>{_e(tip)}</title>{_e(shown_name)}</text>"
        )
        bars = [("u", cur_share, 12)] if new else [("r", ref_share or 0.0, 3), ("c", cur_share, 12)]
        for cls, share, dy in bars:
            w = bar_w * share / x_top
            out.append(
                f'<rect class="{cls}" x="{label_w}" y="{y + dy}" width="{w:.1f}" height="8">'
                f"<title>{_e(tip)}</title></rect>"
                f'<text class="t" x="{label_w + w + 4:.1f}" y="{y + dy + 8}" font-size="10">{_pct(share)}</text>'
            )
    out.append("</svg>")
    extra = '<span class="sw u"></span>current, category never in the reference' if hist.unseen_total else ""
    scale = '<span class="q"> · share of each side\'s present values</span>'
    return _LEGEND.format(extra=extra + scale) + "".join(out)
