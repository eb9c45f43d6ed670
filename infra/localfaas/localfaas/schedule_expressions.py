"""Schedule expressions: rate(), cron() and at(), and the moments each one names, in a time zone.

Follows, for EventBridge scheduled rules, "Cron expressions reference" and "Rate expressions
reference" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html), and for
EventBridge Scheduler "Schedule types in EventBridge Scheduler"
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):

- cron has six fields, minutes hours day-of-month month day-of-week year; day-of-week runs 1-7 from
  SUN; one of day-of-month and day-of-week is `?` and the other is not; `, - * /` everywhere but
  day-of-week, which has `, - * ? L #` (`/` is not listed for it, so it is refused); `L` is the
  last day of the month (day-of-month) or of the week (day-of-week: SAT), `5L` the month's last
  Thursday; `3W` the weekday nearest the 3rd; `3#2` the month's second Tuesday, and `#` stands
  alone in its field. Years 1970-2199.
- rate(value unit): a positive whole value; unit minute(s), hour(s) or day(s), singular for 1 and
  plural above ("rate(1 hours) and rate(5 hour) aren't valid"). A rate is elapsed time: "days
  represents a 24-hour duration", whatever daylight saving does to the wall clock.
- at(yyyy-mm-ddThh:mm:ss): one moment, in the schedule's time zone.
- A cron time is wall-clock time in the zone (zoneinfo): a time that does not exist when the clocks
  go forward is skipped; a time that happens twice when they go back runs once, at its first
  occurrence (Scheduler's "Daylight saving time" section).

Choices where the pages say nothing: `W` keeps to its month (1W on a Saturday is Monday the 3rd), as
in the Quartz scheduler that AWS's syntax follows; an at() time inside a daylight-saving gap is read
with the offset before the change. Second-level precision is not modelled: moments fall on the
minute (Scheduler documents 60-second precision).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["At", "Cron", "Expression", "Rate", "ScheduleExpressionError", "next_moment", "parse", "zone"]

_UTC = dt.UTC
# Fixed English names: calendar.month_abbr follows the locale.
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_LAST_YEAR = 2199


class ScheduleExpressionError(ValueError):
    """An expression AWS would refuse; the message is one line that quotes it."""


def zone(name: str | None) -> ZoneInfo | dt.timezone:
    """ScheduleExpressionTimezone as zoneinfo reads it (UTC when absent)."""
    if not name:
        return _UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(f"unknown ScheduleExpressionTimezone {name!r}") from None


@dataclass(frozen=True)
class Rate:
    seconds: int  # the period: elapsed time, not wall-clock time


@dataclass(frozen=True)
class At:
    moment: float  # epoch seconds


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: str  # the field as written; "?" when day_of_week decides
    months: frozenset[int]
    day_of_week: str
    years: frozenset[int]
    tz: ZoneInfo | dt.timezone = _UTC

    def next_after(self, t: float) -> float | None:
        """The first moment strictly after epoch second `t`, or None (none left before 2200)."""
        local = dt.datetime.fromtimestamp(t, self.tz).replace(tzinfo=None, fold=0)
        start = local.replace(second=0, microsecond=0)
        for year in range(start.year, _LAST_YEAR + 1):
            if year not in self.years:
                continue
            for month in range(start.month if year == start.year else 1, 13):
                if month not in self.months:
                    continue
                first = start.day if (year, month) == (start.year, start.month) else 1
                for day in self._days(year, month):
                    if day < first:
                        continue
                    moment = self._first_on(dt.date(year, month, day), t)
                    if moment is not None:
                        return moment
        return None

    def _first_on(self, day: dt.date, t: float) -> float | None:
        for hour in self.hours:
            for minute in self.minutes:
                wall = dt.datetime(day.year, day.month, day.day, hour, minute)
                moment = self._epoch(wall)
                if moment is not None and moment > t:
                    return moment
        return None

    def _epoch(self, wall: dt.datetime) -> float | None:
        """The wall-clock time's first occurrence, or None inside a daylight-saving gap."""
        aware = wall.replace(tzinfo=self.tz, fold=0)
        back = aware.astimezone(_UTC).astimezone(self.tz).replace(tzinfo=None)
        return aware.timestamp() if back == wall else None

    def _days(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        if self.day_of_month != "?":
            return sorted(
                {d for item in self.day_of_month.split(",") for d in _dom_item(item, year, month, last)}
            )
        return sorted({d for item in self.day_of_week.split(",") for d in _dow_item(item, year, month, last)})


Expression = Rate | Cron | At


def next_moment(
    expression: Expression,
    after: float,
    *,
    origin: float,
    start: float | None = None,
    end: float | None = None,
) -> float | None:
    """The schedule's first moment strictly after `after`, or None when it has no more.

    A rate's moments are `origin`, origin + period, ... (`origin`: when the schedule starts counting,
    see localfaas.schedules). `start` (StartDate) and `end` (EndDate) bound a recurring schedule:
    moments on or after the one, before the other; a one-time schedule ignores both, as Scheduler's
    CreateSchedule reference says."""
    if isinstance(expression, At):
        return expression.moment if expression.moment > after else None
    floor = after if start is None else max(after, start - 1e-6)
    if isinstance(expression, Rate):
        first = origin if start is None else max(origin, start)
        if floor < first:
            moment = first
        else:
            moment = first + (int((floor - first) // expression.seconds) + 1) * expression.seconds
    else:
        moment = expression.next_after(floor)
    if moment is None or (end is not None and moment >= end):
        return None
    return moment


def _weekday(year: int, month: int, day: int) -> int:
    """1 = SUN ... 7 = SAT, as AWS numbers days of the week."""
    return (dt.date(year, month, day).isoweekday() % 7) + 1


def _dom_item(item: str, year: int, month: int, last: int) -> list[int]:
    if item == "L":
        return [last]
    if item.endswith("W"):
        day = min(int(item[:-1]), last)
        weekday = _weekday(year, month, day)
        if weekday == 7:  # Saturday: Friday before, unless that leaves the month
            return [day - 1] if day > 1 else [day + 2]
        if weekday == 1:  # Sunday: Monday after, unless that leaves the month
            return [day + 1] if day < last else [day - 2]
        return [day]
    return [d for d in _values(item, 1, 31) if d <= last]


def _dow_item(item: str, year: int, month: int, last: int) -> list[int]:
    days = range(1, last + 1)
    if item == "L":
        return [d for d in days if _weekday(year, month, d) == 7]
    if item.endswith("L"):
        wanted = _day_number(item[:-1])
        return [max(d for d in days if _weekday(year, month, d) == wanted)]
    if "#" in item:
        name, nth = item.split("#")
        wanted = _day_number(name)
        matching = [d for d in days if _weekday(year, month, d) == wanted]
        return [matching[int(nth) - 1]] if int(nth) <= len(matching) else []
    wanted_days = set(_values(item, 1, 7, names=_DAYS))
    return [d for d in days if _weekday(year, month, d) in wanted_days]


def _day_number(text: str) -> int:
    return _DAYS[text] if text in _DAYS else int(text)


def _values(item: str, low: int, high: int, names: dict[str, int] | None = None) -> list[int]:
    """One comma-separated item of a field: `*`, `N`, `A-B`, and `X/step` of either."""
    names = names or {}

    def number(text: str) -> int:
        value = names[text] if text in names else int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}-{high}")
        return value

    base, _, step = item.partition("/")
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, second = base.split("-", 1)
        start, end = number(first), number(second)
    else:
        start = number(base)
        end = high if step else start
    stride = int(step) if step else 1
    if stride < 1:
        raise ValueError("an increment must be positive")
    if start <= end:
        return list(range(start, end + 1, stride))
    # A wrapping range (FRI-MON, 22-2): from start to the top, then from the bottom.
    return [v for v in [*range(start, high + 1), *range(low, end + 1)]][::stride]


_DOM_ITEM = re.compile(r"^(L|\d{1,2}W|(\*|\d{1,2}(-\d{1,2})?)(/\d+)?)$")
_DOW_ITEM = re.compile(r"^(L|(\d|[A-Z]{3})L|(\d|[A-Z]{3})#[1-5]|(\*|(\d|[A-Z]{3})(-(\d|[A-Z]{3}))?))$")


def _cron(text: str, fields: list[str], tz: ZoneInfo | dt.timezone) -> Cron:
    if len(fields) != 6:
        raise ScheduleExpressionError(f"{text}: a cron expression has six fields, not {len(fields)}")
    minutes, hours, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"{text}: one of day-of-month and day-of-week must be ? and the other must not"
        )
    if "#" in dow and "," in dow:
        raise ScheduleExpressionError(f"{text}: a day-of-week with # must be a single expression")
    try:
        for item in dom.split(",") if dom != "?" else ():
            if not _DOM_ITEM.match(item):
                raise ValueError(f"day-of-month {item!r}")
            if item[0].isdigit():
                _values(item.rstrip("W"), 1, 31)
        for item in dow.split(",") if dow != "?" else ():
            if not _DOW_ITEM.match(item):
                raise ValueError(f"day-of-week {item!r}")
            for part in re.split(r"[-L#]", item):
                if part and not part.isdigit() and part not in _DAYS:
                    raise ValueError(f"day-of-week {part!r}")
            if item not in ("L", "*") and "#" not in item:
                _values(item.rstrip("L") if item.endswith("L") else item, 1, 7, names=_DAYS)
        return Cron(
            minutes=tuple(sorted({v for i in minutes.split(",") for v in _values(i, 0, 59)})),
            hours=tuple(sorted({v for i in hours.split(",") for v in _values(i, 0, 23)})),
            day_of_month=dom,
            months=frozenset(v for i in month.split(",") for v in _values(i, 1, 12, names=_MONTHS)),
            day_of_week=dow,
            years=frozenset(v for i in year.split(",") for v in _values(i, 1970, _LAST_YEAR)),
            tz=tz,
        )
    except (ValueError, KeyError) as e:
        raise ScheduleExpressionError(f"{text}: {e}") from None


_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def parse(text: str, timezone: str | None = None) -> Expression:
    """rate(...), cron(...) or at(...); `timezone` is ScheduleExpressionTimezone (Scheduler only)."""
    text = str(text).strip()
    tz = zone(timezone)
    if text.startswith("cron(") and text.endswith(")"):
        return _cron(text, text[5:-1].split(), tz)
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        singular = unit.rstrip("s") if unit.endswith("s") else unit
        if singular not in _UNITS or value < 1 or (unit == singular) != (value == 1):
            raise ScheduleExpressionError(
                f"{text}: a rate is a positive whole number and minute(s), hour(s) or day(s), "
                "singular for 1 and plural above"
            )
        return Rate(value * _UNITS[singular])
    at = _AT.match(text)
    if at:
        try:
            wall = dt.datetime.fromisoformat(at.group(1))
        except ValueError as e:
            raise ScheduleExpressionError(f"{text}: {e}") from None
        return At(wall.replace(tzinfo=tz, fold=0).timestamp())
    raise ScheduleExpressionError(f"{text}: not a rate(...), cron(...) or at(...) expression")
