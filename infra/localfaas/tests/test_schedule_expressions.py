"""Schedule expressions against "Cron expressions reference", "Rate expressions reference" (EventBridge)
and "Schedule types in EventBridge Scheduler" (time zones, daylight saving, StartDate/EndDate)."""

from __future__ import annotations

import datetime as dt

import pytest

from localfaas.schedule_expressions import ScheduleExpressionError, next_moment, parse, zone


def epoch(text: str, tz: str | None = None) -> float:
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone(tz)).timestamp() if moment.tzinfo is None else moment.timestamp()


def moments(expression: str, since: str, count: int, tz: str | None = None, **bounds: str) -> list[str]:
    """The next `count` moments after `since` (wall-clock time in `tz`), as wall-clock text with offset."""
    parsed = parse(expression, tz)
    after = epoch(since, tz)
    limits = {name: epoch(value) for name, value in bounds.items()}
    out = []
    origin = after
    while len(out) < count:
        moment = next_moment(parsed, after, origin=origin, **limits)
        if moment is None:
            break
        out.append(dt.datetime.fromtimestamp(moment, zone(tz)).isoformat())
        after = moment
    return out


# -- month ends, L, W, # ------------------------------------------------------------------------------


def test_day_31_skips_the_months_that_have_no_31st():
    assert moments("cron(0 8 31 * ? *)", "2024-01-01T00:00", 4) == [
        "2024-01-31T08:00:00+00:00",
        "2024-03-31T08:00:00+00:00",
        "2024-05-31T08:00:00+00:00",
        "2024-07-31T08:00:00+00:00",
    ]


def test_l_in_day_of_month_is_each_months_last_day_leap_february_included():
    assert moments("cron(0 12 L * ? *)", "2024-01-15T00:00", 3) == [
        "2024-01-31T12:00:00+00:00",
        "2024-02-29T12:00:00+00:00",
        "2024-03-31T12:00:00+00:00",
    ]
    assert moments("cron(0 12 L FEB ? *)", "2025-01-01T00:00", 1) == ["2025-02-28T12:00:00+00:00"]


def test_february_29th_waits_for_the_next_leap_year():
    assert moments("cron(0 10 29 FEB ? *)", "2024-03-01T00:00", 2) == [
        "2028-02-29T10:00:00+00:00",
        "2032-02-29T10:00:00+00:00",
    ]


def test_l_in_day_of_week_is_the_last_day_of_the_week_saturday():
    assert moments("cron(0 9 ? * L *)", "2024-06-01T10:00", 2) == [
        "2024-06-08T09:00:00+00:00",
        "2024-06-15T09:00:00+00:00",
    ]


def test_nl_is_the_months_last_such_weekday():
    # 6 is Friday (1 = SUN): the last Friday of each month.
    assert moments("cron(0 17 ? * 6L *)", "2024-01-01T00:00", 3) == [
        "2024-01-26T17:00:00+00:00",
        "2024-02-23T17:00:00+00:00",
        "2024-03-29T17:00:00+00:00",
    ]


def test_w_is_the_weekday_nearest_and_stays_in_its_month():
    # 15 June 2024 is a Saturday: Friday the 14th. 16 June 2024 is a Sunday: Monday the 17th.
    assert moments("cron(0 9 15W * ? 2024)", "2024-06-01T00:00", 1) == ["2024-06-14T09:00:00+00:00"]
    assert moments("cron(0 9 16W * ? 2024)", "2024-06-01T00:00", 1) == ["2024-06-17T09:00:00+00:00"]
    # 1 June 2024 is a Saturday: not Friday 31 May but Monday the 3rd.
    assert moments("cron(0 9 1W * ? 2024)", "2024-06-01T00:00", 1) == ["2024-06-03T09:00:00+00:00"]
    # 31 August 2024 is a Saturday: Friday the 30th; 30W in a 30-day month with the 30th a Sunday
    # (June 2024) is Friday the 28th, not Monday 1 July.
    assert moments("cron(0 9 31W AUG ? 2024)", "2024-01-01T00:00", 1) == ["2024-08-30T09:00:00+00:00"]
    assert moments("cron(0 9 30W JUN ? 2024)", "2024-01-01T00:00", 1) == ["2024-06-28T09:00:00+00:00"]


def test_hash_is_the_nth_such_weekday_and_a_missing_fifth_is_skipped():
    assert moments("cron(0 12 ? * 3#2 *)", "2024-01-01T00:00", 2) == [
        "2024-01-09T12:00:00+00:00",  # the second Tuesday
        "2024-02-13T12:00:00+00:00",
    ]
    # Fifth Monday: January 2024 has one (29th), February and March do not, April does (29th).
    assert moments("cron(0 12 ? * MON#5 2024)", "2024-01-01T00:00", 3) == [
        "2024-01-29T12:00:00+00:00",
        "2024-04-29T12:00:00+00:00",
        "2024-07-29T12:00:00+00:00",
    ]


def test_slash_ranges_and_names():
    assert moments("cron(1/20 * * * ? *)", "2024-01-01T00:00", 4) == [
        "2024-01-01T00:01:00+00:00",
        "2024-01-01T00:21:00+00:00",
        "2024-01-01T00:41:00+00:00",
        "2024-01-01T01:01:00+00:00",
    ]
    # 5 January 2024 is a Friday: MON-FRI goes on to Monday the 8th.
    assert moments("cron(0 18 ? * MON-FRI *)", "2024-01-05T12:00", 2) == [
        "2024-01-05T18:00:00+00:00",
        "2024-01-08T18:00:00+00:00",
    ]
    assert moments("cron(0 22-1 * * ? *)", "2024-01-01T21:00", 4) == [
        "2024-01-01T22:00:00+00:00",
        "2024-01-01T23:00:00+00:00",
        "2024-01-02T00:00:00+00:00",
        "2024-01-02T01:00:00+00:00",
    ]


def test_a_year_field_ends_the_schedule():
    assert moments("cron(0 0 1 1 ? 2025-2026)", "2024-01-01T00:00", 5) == [
        "2025-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
    ]


# -- time zones and daylight saving ---------------------------------------------------------------


def test_a_time_that_does_not_exist_when_clocks_go_forward_is_skipped():
    # Europe/Paris, 31 March 2024: 02:00 becomes 03:00, so 02:30 does not happen that day.
    assert moments("cron(30 2 * * ? *)", "2024-03-30T00:00", 3, "Europe/Paris") == [
        "2024-03-30T02:30:00+01:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_a_time_that_happens_twice_when_clocks_go_back_runs_once():
    # Europe/Paris, 27 October 2024: 03:00 becomes 02:00, so 02:30 happens twice; it runs at the first.
    assert moments("cron(30 2 * * ? *)", "2024-10-26T12:00", 2, "Europe/Paris") == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]
    hourly = moments("cron(30 * * * ? *)", "2024-10-27T00:00", 4, "Europe/Paris")
    assert hourly == [
        "2024-10-27T00:30:00+02:00",
        "2024-10-27T01:30:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T03:30:00+01:00",
    ]


def test_an_hourly_cron_has_23_moments_on_the_day_clocks_go_forward():
    day = moments("cron(0 * * * ? *)", "2024-03-30T23:59", 30, "Europe/Paris")
    assert len([m for m in day if m.startswith("2024-03-31")]) == 23
    assert "2024-03-31T02:00:00+02:00" not in day


def test_a_rate_in_days_is_24_hours_of_elapsed_time_across_a_change():
    parsed = parse("rate(1 day)")
    origin = epoch("2024-03-09T09:00", "America/New_York")  # US clocks go forward on 10 March 2024
    second = next_moment(parsed, origin, origin=origin)
    assert second == origin + 86_400
    assert dt.datetime.fromtimestamp(second, zone("America/New_York")).hour == 10  # wall clock moved


def test_cron_is_utc_without_a_time_zone():
    assert moments("cron(0 10 * * ? *)", "2024-07-01T00:00", 1) == ["2024-07-01T10:00:00+00:00"]


def test_at_is_read_in_the_schedules_time_zone():
    assert parse("at(2024-07-01T09:00:00)", "Asia/Tokyo").moment == epoch("2024-07-01T00:00:00+00:00")


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(ScheduleExpressionError, match="Mars/Olympus"):
        parse("rate(5 minutes)", "Mars/Olympus")


# -- rate, StartDate and EndDate ------------------------------------------------------------------


def test_rate_counts_from_its_origin_and_start_date_sets_the_first_moment():
    parsed = parse("rate(15 minutes)")
    origin = epoch("2024-01-01T00:00")
    assert next_moment(parsed, origin - 1, origin=origin) == origin
    assert next_moment(parsed, origin + 60, origin=origin) == origin + 900
    start = epoch("2024-01-02T06:00")
    assert next_moment(parsed, origin, origin=origin, start=start) == start


def test_end_date_ends_a_recurring_schedule_and_a_one_time_schedule_ignores_both_dates():
    assert moments("rate(1 hour)", "2024-01-01T00:00", 10, end="2024-01-01T03:00:00+00:00") == [
        "2024-01-01T01:00:00+00:00",
        "2024-01-01T02:00:00+00:00",
    ]
    once = parse("at(2024-05-01T12:00:00)")
    after_end = epoch("2025-01-01T00:00")
    assert next_moment(once, 0, origin=0, start=after_end, end=after_end) == once.moment
    assert next_moment(once, once.moment, origin=0) is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 hours)",  # the page's own invalid examples
        "rate(5 hour)",
        "rate(0 minutes)",
        "rate(5 seconds)",
        "cron(0 10 * * * *)",  # * in both day fields
        "cron(0 10 ? * ? *)",  # ? in both
        "cron(0 10 * * ?)",  # five fields
        "cron(60 10 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 10 32 * ? *)",
        "cron(0 10 ? * 8 *)",
        "cron(0 10 ? * 3#1,6#3 *)",  # '#' must stand alone
        "cron(0 10 ? * 1/2 *)",  # '/' is not a day-of-week wildcard
        "cron(0 10 LW * ? *)",
        "cron(0 10 1 * ? 1969)",
        "at(2024-13-01T00:00:00)",
        "every day",
    ],
)
def test_an_expression_aws_refuses_is_refused_in_one_line(expression):
    with pytest.raises(ScheduleExpressionError) as refused:
        parse(expression)
    assert "\n" not in str(refused.value) and expression in str(refused.value)
