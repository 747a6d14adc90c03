"""Tests of the benchmark's own pieces (scripts/bench).

The list without DRF, the baseline project, the seeding, and the bench-only routes.
"""
