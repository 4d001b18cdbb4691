"""Stepping through UTC time: the minutes, hours or days of a window, and runs of consecutive steps."""

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
STEPS = {"minute": MINUTE, "hour": HOUR, "day": DAY}
LONGEST_PERIOD = timedelta(days=3660)  # a question over more than ten years is a mistake, not a question


# A century short of either end of the calendar: the periods, steps and look-backs of a question stay inside it.
EARLIEST, LATEST = datetime(100, 1, 1, tzinfo=timezone.utc), datetime(9900, 1, 1, tzinfo=timezone.utc)


def parse_utc(text: str) -> datetime:
    """A time as people write it, `2026-11-20T14:00` (UTC) or with an offset, between the years 100 and 9899;
    ValueError saying what is expected."""
    try:
        value = datetime.fromisoformat(text)
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an offset past the calendar's first or last day
        raise ValueError(f"expected a time like 2026-11-20T14:00 (UTC), got {text!r}") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"expected a time between the years {EARLIEST.year} and {LATEST.year - 1}, got {text!r}")
    return value


def floor(moment: datetime, step: timedelta) -> datetime:
    """The start of the UTC minute, hour or day (`step`) holding `moment`."""
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, timezone.utc)


def ceil(moment: datetime, step: timedelta) -> datetime:
    """The first start of a UTC `step` at or after `moment`."""
    start = floor(moment, step)
    return start if start == moment else start + step


def steps(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The starts of the `step`s that overlap `start <= t < end`, from the one holding `start`."""
    moment, result = floor(start, step), []
    while moment < end:
        result.append(moment)
        moment += step
    return result


def runs(moments: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive moments (one `step` apart) as (first, last) ranges, in order."""
    ranges: list[list[datetime]] = []
    for moment in sorted(moments):
        if ranges and moment - ranges[-1][1] == step:
            ranges[-1][1] = moment
        else:
            ranges.append([moment, moment])
    return [(first, last) for first, last in ranges]


def uncovered(start: datetime, end: datetime, covered: Iterable[datetime],
              step: timedelta) -> list[tuple[datetime, datetime]]:
    """The parts of `start <= t < end` outside the `step`s starting at `covered`, as few ranges as possible."""
    ranges, cursor = [], start
    for moment in sorted(covered):
        if cursor < moment:
            ranges.append((cursor, moment))
        cursor = max(cursor, moment + step)
    if cursor < end:
        ranges.append((cursor, end))
    return ranges
