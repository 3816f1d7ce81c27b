"""The drift report people read (one self-contained HTML file) and the JSON summary machines read.

Pure functions: a `DriftResult` (and the histograms behind it) in, a string or a dict out; the caller
writes them to storage. The HTML carries no JavaScript and references nothing outside itself (an
inline style sheet, inline SVG charts, system fonts), so it opens the same from a bucket, a mail
attachment or an offline laptop, and it stays small: about 190 KB for 25 features, where a report
that ships a charting bundle weighs 5 MB whatever the data (users reported 600 MB ones).

The markup is a Jinja2 template (`templates/report.html.j2`) with autoescaping on: this module hands
it plain text and numbers (chart geometry included), never markup, so every string that comes from
data or configuration (model, feature and category names, sources, run keys, `<0.0001`) is escaped
by the engine, not by each place that writes one.
"""

from shared.drift.report.context import Histogram, ReportContext
from shared.drift.report.html import render_html
from shared.drift.report.summary import history_table, ks_note, render_json

__all__ = ["Histogram", "ReportContext", "history_table", "ks_note", "render_html", "render_json"]
