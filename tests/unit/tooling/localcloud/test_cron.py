"""Cloud Scheduler's unix-cron schedules: parsing, fire times, DST, and a brute-force reference for the search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooling.localcloud.cron import CronError, CronSchedule
from tooling.manifest import load_manifest


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, start: datetime, count: int, time_zone: str = "Etc/UTC") -> list[str]:
    schedule = CronSchedule.parse(expression, time_zone)
    times, current = [], start
    for _ in range(count):
        current = schedule.next_after(current)
        times.append(current.strftime("%Y-%m-%d %H:%M"))
    return times


# (expression, time zone, start in UTC, the next fire times in UTC)
EXAMPLES = [
    # the manifest's own schedules
    ("17 3 * * *", "Etc/UTC", "2024-05-01 00:00", ["2024-05-01 03:17", "2024-05-02 03:17"]),
    ("0 */6 * * *", "Etc/UTC", "2024-05-01 05:59:59", ["2024-05-01 06:00", "2024-05-01 12:00", "2024-05-01 18:00"]),
    # strictly after: a moment exactly on a fire time moves on
    ("0 */6 * * *", "Etc/UTC", "2024-05-01 06:00", ["2024-05-01 12:00", "2024-05-01 18:00", "2024-05-02 00:00"]),
    # steps, ranges, a/n (= a-max/n), lists
    ("*/15 9-10 * * *", "Etc/UTC", "2024-05-01 10:40", ["2024-05-01 10:45", "2024-05-02 09:00"]),
    ("5-20/5 * * * *", "Etc/UTC", "2024-05-01 00:00", ["2024-05-01 00:05", "2024-05-01 00:10", "2024-05-01 00:15"]),
    ("5-20/5 * * * *", "Etc/UTC", "2024-05-01 00:20", ["2024-05-01 01:05"]),
    ("30/10 * * * *", "Etc/UTC", "2024-05-01 00:00", ["2024-05-01 00:30", "2024-05-01 00:40", "2024-05-01 00:50"]),
    ("30/10 * * * *", "Etc/UTC", "2024-05-01 00:50", ["2024-05-01 01:30"]),
    ("0 8,12,18 * * *", "Etc/UTC", "2024-05-01 12:00", ["2024-05-01 18:00", "2024-05-02 08:00"]),
    ("0 0-2,22/1 * * *", "Etc/UTC", "2024-05-01 02:00", ["2024-05-01 22:00", "2024-05-01 23:00", "2024-05-02 00:00"]),
    ("* * * * *", "Etc/UTC", "2024-12-31 23:59:30", ["2025-01-01 00:00", "2025-01-01 00:01"]),
    # month and day names, any case; 0 and 7 are both Sunday
    ("0 0 1 jan,Jul *", "Etc/UTC", "2024-05-01 00:00", ["2024-07-01 00:00", "2025-01-01 00:00"]),
    ("0 12 * * mon-FRI", "Etc/UTC", "2024-05-03 13:00", ["2024-05-06 12:00", "2024-05-07 12:00"]),
    ("0 0 * * 7", "Etc/UTC", "2024-05-01 00:00", ["2024-05-05 00:00", "2024-05-12 00:00"]),
    ("0 0 * * 0", "Etc/UTC", "2024-05-01 00:00", ["2024-05-05 00:00", "2024-05-12 00:00"]),
    ("0 0 * * 5-7", "Etc/UTC", "2024-05-01 00:00", ["2024-05-03 00:00", "2024-05-04 00:00", "2024-05-05 00:00"]),
    # both day fields restricted: either matches (the 13th, and every Friday)
    (
        "0 0 13 * FRI",
        "Etc/UTC",
        "2024-09-01 00:00",
        ["2024-09-06 00:00", "2024-09-13 00:00", "2024-09-20 00:00", "2024-09-27 00:00", "2024-10-04 00:00"],
    ),
    ("0 0 13 * FRI", "Etc/UTC", "2024-10-11 00:00", ["2024-10-13 00:00", "2024-10-18 00:00"]),
    # one day field starting with `*` (even `*/2`) is unrestricted, so both must match: odd-day Fridays
    ("0 0 */2 * FRI", "Etc/UTC", "2024-09-01 00:00", ["2024-09-13 00:00", "2024-09-27 00:00", "2024-10-11 00:00"]),
    # leap day, including across 2100 (not a leap year)
    ("0 0 29 2 *", "Etc/UTC", "2024-03-01 00:00", ["2028-02-29 00:00", "2032-02-29 00:00"]),
    ("0 0 29 2 *", "Etc/UTC", "2097-03-01 00:00", ["2104-02-29 00:00"]),
    ("0 0 31 * *", "Etc/UTC", "2024-04-01 00:00", ["2024-05-31 00:00", "2024-07-31 00:00", "2024-08-31 00:00"]),
    # macros
    ("@hourly", "Etc/UTC", "2024-05-01 10:30", ["2024-05-01 11:00", "2024-05-01 12:00"]),
    ("@daily", "Etc/UTC", "2024-05-01 10:30", ["2024-05-02 00:00"]),
    ("@midnight", "Etc/UTC", "2024-05-01 10:30", ["2024-05-02 00:00"]),
    ("@WEEKLY", "Etc/UTC", "2024-05-01 10:30", ["2024-05-05 00:00", "2024-05-12 00:00"]),
    ("@monthly", "Etc/UTC", "2024-05-01 10:30", ["2024-06-01 00:00", "2024-07-01 00:00"]),
    ("@yearly", "Etc/UTC", "2024-05-01 10:30", ["2025-01-01 00:00"]),
    ("@annually", "Etc/UTC", "2024-05-01 10:30", ["2025-01-01 00:00"]),
    # time zones: 9:00 New York on weekdays is 14:00 UTC before the spring change (Sun 10 Mar 2024), 13:00 after
    ("0 9 * * MON-FRI", "America/New_York", "2024-03-07 15:00", ["2024-03-08 14:00", "2024-03-11 13:00"]),
    ("0 9 * * MON-FRI", "America/New_York", "2024-11-01 14:00", ["2024-11-04 14:00", "2024-11-05 14:00"]),
    ("30 9 * * *", "Asia/Kolkata", "2024-05-01 00:00", ["2024-05-01 04:00", "2024-05-02 04:00"]),
    # spring forward: 02:30 does not exist on 10 Mar 2024 in New York, so that day is skipped
    ("30 2 * * *", "America/New_York", "2024-03-09 12:00", ["2024-03-11 06:30", "2024-03-12 06:30"]),
    ("*/30 * * * *", "America/New_York", "2024-03-10 06:30", ["2024-03-10 07:00", "2024-03-10 07:30"]),
    # fall back: 01:30 happens twice on 3 Nov 2024 in New York and fires once, at the first (EDT) one
    ("30 1 * * *", "America/New_York", "2024-11-02 12:00", ["2024-11-03 05:30", "2024-11-04 06:30"]),
    ("30 1 * * *", "America/New_York", "2024-11-03 05:30", ["2024-11-04 06:30"]),
    # ... so a half-hourly job pauses through the repeated hour (06:00 and 06:30 UTC are 01:00 and 01:30 EST)
    ("*/30 * * * *", "America/New_York", "2024-11-03 05:00", ["2024-11-03 05:30", "2024-11-03 07:00"]),
    # a moment inside the repeated hour's second pass resumes at the next wall time
    ("*/30 * * * *", "America/New_York", "2024-11-03 06:10", ["2024-11-03 07:00"]),
    # Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 01:30 on 7 Apr 2024
    ("0,45 1 * * *", "Australia/Lord_Howe", "2024-04-06 13:00", ["2024-04-06 14:00", "2024-04-06 14:45"]),
]


@pytest.mark.parametrize(("expression", "time_zone", "start", "expected"), EXAMPLES)
def test_next_after_examples(expression: str, time_zone: str, start: str, expected: list[str]) -> None:
    assert fires(expression, utc(start), len(expected), time_zone) == expected


def test_next_after_accepts_any_zone_and_answers_in_utc() -> None:
    # GIVEN a moment in Tokyo (09:00 JST = 00:00 UTC)
    moment = datetime(2024, 5, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    # WHEN the next 03:17 UTC is asked for
    fired = CronSchedule.parse("17 3 * * *").next_after(moment)
    # THEN it comes back as a UTC datetime
    assert fired == utc("2024-05-01 03:17")
    assert fired.tzinfo is UTC


def test_fire_times_yields_the_half_open_interval() -> None:
    schedule = CronSchedule.parse("0 */6 * * *")
    got = list(schedule.fire_times(utc("2024-05-01 00:00"), utc("2024-05-02 00:00")))
    assert got == [utc("2024-05-01 06:00"), utc("2024-05-01 12:00"), utc("2024-05-01 18:00"), utc("2024-05-02 00:00")]


def test_fire_times_stops_for_a_schedule_that_never_fires() -> None:
    assert list(CronSchedule.parse("0 0 30 2 *").fire_times(utc("2024-01-01 00:00"), utc("2030-01-01 00:00"))) == []


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 FEB *"])
def test_impossible_schedule_never_fires(expression: str) -> None:
    with pytest.raises(CronError, match="never fires"):
        CronSchedule.parse(expression).next_after(utc("2024-01-01 00:00"))


def test_naive_moment_is_rejected() -> None:
    with pytest.raises(CronError, match="timezone-aware"):
        CronSchedule.parse("* * * * *").next_after(datetime(2024, 1, 1))


def test_parsed_fields() -> None:
    schedule = CronSchedule.parse("1-10/3,30 */8 1,15 JAN-MAR/2 SAT-7")
    assert schedule.minutes == (1, 4, 7, 10, 30)
    assert schedule.hours == (0, 8, 16)
    assert schedule.days == {1, 15}
    assert schedule.months == {1, 3}
    assert schedule.weekdays == {6, 0}
    assert (schedule.day_of_month_star, schedule.day_of_week_star) == (False, False)


# (expression, time zone, what the message must say)
ERRORS = [
    ("60 * * * *", "Etc/UTC", "minute field '60': 60 is out of range 0-59"),
    ("* 24 * * *", "Etc/UTC", "hour field '24': 24 is out of range 0-23"),
    ("* * 0 * *", "Etc/UTC", "day-of-month field '0': 0 is out of range 1-31"),
    ("* * 32 * *", "Etc/UTC", "day-of-month field '32'"),
    ("* * * 13 *", "Etc/UTC", "month field '13': 13 is out of range 1-12"),
    ("* * * * 8", "Etc/UTC", "day-of-week field '8': 8 is out of range 0-7"),
    ("0-60/5 * * * *", "Etc/UTC", "minute field '0-60/5': 60 is out of range"),
    ("* * * *", "Etc/UTC", "expected 5 fields"),
    ("* * * * * *", "Etc/UTC", "got 6"),
    ("", "Etc/UTC", "got 0"),
    ("*/0 * * * *", "Etc/UTC", "minute field '*/0': step must be at least 1"),
    ("*/x * * * *", "Etc/UTC", "step 'x' is not a number"),
    ("1/2/3 * * * *", "Etc/UTC", "step '2/3' is not a number"),
    ("5-1 * * * *", "Etc/UTC", "minute field '5-1': reversed range 5-1"),
    ("* * * * FRI-MON", "Etc/UTC", "reversed range 5-1"),
    ("* * * FOO *", "Etc/UTC", "month field 'FOO': unknown value 'FOO'"),
    ("* * * * MONDAY", "Etc/UTC", "day-of-week field 'MONDAY': unknown value"),
    ("* * JAN * *", "Etc/UTC", "day-of-month field 'JAN': unknown value"),
    ("* * * * JAN", "Etc/UTC", "day-of-week field 'JAN'"),
    ("1,,2 * * * *", "Etc/UTC", "minute field '': empty list item"),
    ("1, * * * *", "Etc/UTC", "empty list item"),
    ("-1 * * * *", "Etc/UTC", "minute field '-1': missing value"),
    ("1- * * * *", "Etc/UTC", "missing value"),
    ("1-2-3 * * * *", "Etc/UTC", "unknown value '2-3'"),
    ("+5 * * * *", "Etc/UTC", "unknown value '+5'"),
    ("@often", "Etc/UTC", "unknown macro '@often'"),
    ("0 3 * * *", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
    ("0 3 * * *", "", "unknown time zone ''"),
    ("0 3 * * *", "../etc/passwd", "unknown time zone"),
]


@pytest.mark.parametrize(("expression", "time_zone", "message"), ERRORS)
def test_parse_errors_name_the_field_and_token(expression: str, time_zone: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        CronSchedule.parse(expression, time_zone)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_every_manifest_schedule_parses_and_fires() -> None:
    scheduled = [spec for spec in load_manifest() if "schedule" in spec.trigger]
    assert scheduled, "the manifest has scheduled functions"
    for spec in scheduled:
        schedule = CronSchedule.parse(spec.trigger["schedule"], spec.trigger.get("time_zone", "Etc/UTC"))
        start = utc("2024-05-01 00:00")
        assert start < schedule.next_after(start) <= start + timedelta(days=1), spec.name


# --- property: the field-jumping search agrees with a minute-by-minute reference -----------------------------------


@dataclass(frozen=True)
class Field:
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is value low + i


MINUTE, HOUR, DOM = Field(0, 59), Field(0, 23), Field(1, 31)
MONTH = Field(1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
DOW = Field(0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))  # no name for 7: SUN is 0
ZONES = ["Etc/UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns"]
# Instants near DST changes in those zones, so the windows cross gaps and repeated hours often.
ANCHORS = [
    utc("2024-03-10 07:00"),  # New York springs forward
    utc("2024-11-03 06:00"),  # New York falls back
    utc("2024-03-31 01:00"),  # London springs forward
    utc("2024-10-27 01:00"),  # London falls back
    utc("2024-04-06 15:00"),  # Lord Howe falls back 30 minutes
    utc("2024-10-05 15:30"),  # Lord Howe springs forward 30 minutes
    utc("2024-03-10 05:30"),  # St John's springs forward
    utc("2024-02-28 12:00"),  # around a leap day
    utc("2023-12-31 12:00"),  # around a year end
]
WINDOW = timedelta(days=2)


@st.composite
def items(draw: st.DrawFn, field: Field) -> tuple[str, set[int]]:
    """One list item as text, with the values it stands for computed independently of the parser."""

    def value() -> tuple[str, int]:
        number = draw(st.integers(field.low, field.high))
        if number - field.low < len(field.names) and draw(st.booleans()):
            name = field.names[number - field.low]
            return draw(st.sampled_from([name, name.lower(), name.title()])), number
        return str(number), number

    kind = draw(st.sampled_from(["star", "value", "range", "start-step"]))
    step = draw(st.integers(1, field.high - field.low + 1))
    if kind == "star":
        return "*" if step == 1 else f"*/{step}", set(range(field.low, field.high + 1, step))
    text, low = value()
    if kind == "value":
        return text, {low}
    if kind == "start-step":
        return f"{text}/{step}", set(range(low, field.high + 1, step))
    high_text, high = value()
    if high < low:
        (text, low), (high_text, high) = (high_text, high), (text, low)
    suffix = f"/{step}" if step > 1 else ""
    return f"{text}-{high_text}{suffix}", set(range(low, high + 1, step))


@st.composite
def fields(draw: st.DrawFn, field: Field, max_items: int = 3) -> tuple[str, set[int]]:
    drawn = draw(st.lists(items(field), min_size=1, max_size=max_items))
    return ",".join(text for text, _ in drawn), set().union(*(values for _, values in drawn))


def dense(field: Field) -> st.SearchStrategy[tuple[str, set[int]]]:
    """Half the time `*`, so most drawn schedules fire inside a two-day window."""
    return st.one_of(st.just(("*", set(range(field.low, field.high + 1)))), fields(field))


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    anchor = draw(st.sampled_from(ANCHORS))
    return anchor + timedelta(seconds=draw(st.integers(-86_400, 86_400)), microseconds=draw(st.integers(0, 999_999)))


def reference_next(
    sets: list[set[int]], stars: tuple[bool, bool], zone: ZoneInfo, moment: datetime, limit: datetime
) -> datetime | None:
    """Every UTC minute after `moment` read on the zone's wall clock; a repeated wall time counts only once."""
    minutes, hours, days, months, weekdays = sets
    weekdays = {d % 7 for d in weekdays}
    candidate = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while candidate <= limit:
        local = candidate.astimezone(zone)
        by_dom, by_dow = local.day in days, local.isoweekday() % 7 in weekdays
        day_ok = (by_dom and by_dow) if any(stars) else (by_dom or by_dow)
        if local.fold == 0 and local.minute in minutes and local.hour in hours and local.month in months and day_ok:
            return candidate
        candidate += timedelta(minutes=1)
    return None


@settings(max_examples=100, deadline=None)
@given(
    minute=fields(MINUTE),
    hour=dense(HOUR),
    dom=dense(DOM),
    month=dense(MONTH),
    dow=dense(DOW),
    time_zone=st.sampled_from(ZONES),
    moment=moments(),
)
def test_next_after_matches_minute_by_minute_reference(minute, hour, dom, month, dow, time_zone, moment) -> None:
    drawn = [minute, hour, dom, month, dow]
    expression = " ".join(text for text, _ in drawn)
    schedule = CronSchedule.parse(expression, time_zone)
    sets = [values for _, values in drawn]
    assert set(schedule.minutes) == sets[0] and set(schedule.hours) == sets[1]
    assert schedule.days == sets[2] and schedule.months == sets[3] and schedule.weekdays == {d % 7 for d in sets[4]}

    limit = moment + WINDOW
    stars = (dom[0].startswith("*"), dow[0].startswith("*"))
    expected = reference_next(sets, stars, ZoneInfo(time_zone), moment, limit)
    try:
        got = schedule.next_after(moment)
    except CronError:
        assert expected is None
        return
    if expected is None:
        assert got > limit
    else:
        assert got == expected
