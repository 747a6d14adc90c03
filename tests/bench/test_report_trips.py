"""The bench report's round-trip rows: reads against issue #17's targets, creates against what the tests pin."""

from collections import Counter

from scripts.bench.report import _trips_targets
from scripts.bench.trips import Trips


def _trips(path: str, method: str, postgresql: int, redis: int, status: int) -> Trips:
    return Trips(path, method, Counter({postgresql: 50}), Counter({redis: 50}), Counter({status: 50}))


def test_reads_and_creates_are_reported_apart_and_met_only_within_their_counts():
    reads = [_trips("/api/v1/projects/", "GET", 1, 1, 200)]
    creates = [_trips("/api/v1/projects/", "POST", 4, 1, 201), _trips("/api/v1/tasks/", "POST", 5, 1, 201)]

    rows = _trips_targets([*reads, *creates])

    assert [row.met for row in rows] == [True, True, True]
    assert "POST /api/v1/tasks/: PostgreSQL {5: 50}, Redis {1: 50}" in rows[2].figure


def test_a_create_with_a_round_trip_more_than_the_tests_pin_is_a_gap():
    rows = _trips_targets([_trips("/api/v1/projects/", "POST", 5, 1, 201)])

    assert [row.met for row in rows] == [False]


def test_a_create_that_failed_is_no_measurement():
    rows = _trips_targets([_trips("/api/v1/tasks/", "POST", 2, 1, 400)])

    assert [row.met for row in rows] == [False]
