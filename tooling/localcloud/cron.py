"""Cloud Scheduler's unix-cron schedules, so the local cloud fires the manifest's jobs when the cloud would.

No croniter: the grammar is small and the one subtle part (wall-clock time across DST) is easier to get right here
than to pin down in a dependency. Cloud Scheduler documents that it "runs on wall clock time" and that DST can make
a job run or not run unexpectedly, without an exact rule; so a wall time that does not exist (clocks spring forward)
is skipped, and one that happens twice (clocks fall back) fires once, at its first occurrence.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "CronSchedule"]

# Long enough to reach the next Feb 29 across a skipped century leap year (2097 -> 2104), short enough to stop fast.
HORIZON_YEARS = 9

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_NUMBER = re.compile(r"[0-9]+")
_MONTHS = {
    name: n
    for n, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_WEEKDAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


class CronError(ValueError):
    """A schedule Cloud Scheduler would reject, or one that never fires."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True)
class CronSchedule:
    """One parsed schedule: the set of values each field allows, plus the zone its wall clock runs in."""

    expression: str
    time_zone: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday; a 7 in the expression is folded into 0
    day_of_month_star: bool
    day_of_week_star: bool

    @classmethod
    def parse(cls, expression: str, time_zone: str = "Etc/UTC") -> CronSchedule:
        """Parse up front so a bad manifest entry fails at `up`, naming the field and token, not at fire time."""
        _zone(time_zone)
        texts = _split_fields(expression)
        minutes, hours, days, months, weekdays = (
            _parse_field(text, spec) for text, spec in zip(texts, _FIELDS, strict=True)
        )
        return cls(
            expression=expression,
            time_zone=time_zone,
            minutes=tuple(sorted(minutes)),
            hours=tuple(sorted(hours)),
            days=frozenset(days),
            months=frozenset(months),
            weekdays=frozenset(d % 7 for d in weekdays),
            day_of_month_star=texts[2].startswith("*"),
            day_of_week_star=texts[4].startswith("*"),
        )

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def matches_day(self, day: date) -> bool:
        """Vixie cron's rule: when both day fields are restricted a day matches either, else it must match both."""
        by_month_day = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.day_of_month_star or self.day_of_week_star:
            return by_month_day and by_weekday
        return by_month_day or by_weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`, in UTC; raises CronError if none comes within the horizon."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise CronError(f"moment must be timezone-aware, got {moment!r}")
        after = moment.astimezone(UTC)
        zone = self.zone
        start = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0, fold=0)
        # Wall times resolved at fold=0 map to instants in the same order, so the first resolved one past `after`
        # is the answer; only the second pass through a fall-back hour can revisit a few already-past wall times.
        for wall in self._wall_times_from(start):
            instant = _instant(wall, zone)
            if instant is not None and instant > after:
                return instant
        raise CronError(f"schedule {self.expression!r} never fires (checked {HORIZON_YEARS} years after {moment})")

    def fire_times(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Fire times in (start, end]: what a scheduler loop owes between its last tick and now."""
        end_utc = end.astimezone(UTC)
        current = start
        while True:
            try:
                current = self.next_after(current)
            except CronError:
                return
            if current > end_utc:
                return
            yield current

    def _wall_times_from(self, start: datetime) -> Iterator[datetime]:
        """Matching naive wall times at or after `start`, jumping by day, hour and minute rather than by minute."""
        first_day = start.date()
        for day in self._days_from(first_day):
            after = start.time() if day == first_day else time.min
            for clock in _times_of_day(self.hours, self.minutes, after):
                yield datetime.combine(day, clock)

    def _days_from(self, first: date) -> Iterator[date]:
        last_year = min(first.year + HORIZON_YEARS, date.max.year)
        year, month = first.year, first.month
        while year <= last_year:
            if month in self.months:
                first_day = first.day if (year, month) == (first.year, first.month) else 1
                for number in range(first_day, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, number)
                    if self.matches_day(day):
                        yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _times_of_day(hours: tuple[int, ...], minutes: tuple[int, ...], after: time) -> Iterator[time]:
    """The day's matching clock times at or after `after`, starting by bisection instead of scanning."""
    for hour in hours[bisect.bisect_left(hours, after.hour) :]:
        first_minute = bisect.bisect_left(minutes, after.minute) if hour == after.hour else 0
        for minute in minutes[first_minute:]:
            yield time(hour, minute)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant a wall time first occurs at, or None when clocks skip over it."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {time_zone!r}") from None


def _split_fields(expression: str) -> list[str]:
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"unknown macro {text!r} (known: {', '.join(MACROS)})")
        text = MACROS[text.lower()]
    fields = text.split()
    if len(fields) != len(_FIELDS):
        names = " ".join(spec.name for spec in _FIELDS)
        raise CronError(f"expected {len(_FIELDS)} fields ({names}), got {len(fields)} in {expression!r}")
    return fields


def _parse_field(text: str, spec: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(item, spec)
    return values


def _parse_item(item: str, spec: _Field) -> set[int]:
    """One list item: `*`, `a`, `a-b`, each optionally `/step` (a bare `a/step` runs to the field's maximum)."""
    if not item:
        raise _error(spec, item, "empty list item")
    base, slash, step_text = item.partition("/")
    step = _parse_step(step_text, item, spec) if slash else 1
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        low_text, _, high_text = base.partition("-")
        low, high = _parse_value(low_text, item, spec), _parse_value(high_text, item, spec)
        if low > high:
            raise _error(spec, item, f"reversed range {low}-{high}")
    else:
        low = _parse_value(base, item, spec)
        high = spec.high if slash else low
    return set(range(low, high + 1, step))


def _parse_step(text: str, item: str, spec: _Field) -> int:
    if not _NUMBER.fullmatch(text):
        raise _error(spec, item, f"step {text!r} is not a number")
    step = int(text)
    if step == 0:
        raise _error(spec, item, "step must be at least 1, got 0")
    return step


def _parse_value(text: str, item: str, spec: _Field) -> int:
    if _NUMBER.fullmatch(text):
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise _error(spec, item, f"{value} is out of range {spec.low}-{spec.high}")
        return value
    if text.upper() in spec.names:
        return spec.names[text.upper()]
    if not text:
        raise _error(spec, item, "missing value")
    known = f" (known names: {', '.join(spec.names)})" if spec.names else ""
    raise _error(spec, item, f"unknown value {text!r}{known}")


def _error(spec: _Field, item: str, problem: str) -> CronError:
    return CronError(f"{spec.name} field {item!r}: {problem}")
