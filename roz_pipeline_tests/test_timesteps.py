"""Time stepping: floors, ceilings, steps, runs of consecutive steps and what a set of steps leaves uncovered."""

from datetime import datetime, timedelta, timezone

from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, ceil, floor, runs, steps, uncovered
from roz_pipeline_tests.helpers import T0

UTC = timezone.utc


def test_steps_floor_ceil_and_runs():
    moment = datetime(2026, 11, 20, 14, 3, 30, tzinfo=UTC)
    assert floor(moment, MINUTE) == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert floor(moment, DAY) == datetime(2026, 11, 20, tzinfo=UTC)
    assert ceil(moment, HOUR) == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert ceil(T0, HOUR) == T0
    assert steps(T0, T0 + timedelta(minutes=3), MINUTE) == [T0 + timedelta(minutes=i) for i in range(3)]
    assert steps(moment, moment + timedelta(days=1), DAY) == [floor(moment, DAY), floor(moment, DAY) + DAY]
    assert steps(T0, T0, HOUR) == []
    minutes = [T0, T0 + MINUTE, T0 + 3 * MINUTE]
    assert runs(reversed(minutes), MINUTE) == [(T0, T0 + MINUTE), (T0 + 3 * MINUTE, T0 + 3 * MINUTE)]
    day = floor(T0, DAY)
    assert uncovered(day + 30 * MINUTE, day + 4 * HOUR, [day + HOUR, day + 2 * HOUR], HOUR) == [
        (day + 30 * MINUTE, day + HOUR), (day + 3 * HOUR, day + 4 * HOUR)]
