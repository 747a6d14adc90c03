"""Tests of the benchmark's own pieces (scripts/bench): the bare view, the seeding, the bench-only routes."""
