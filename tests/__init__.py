"""Test support shared by the suites: servers, stacks, walkers. Never imported by the product."""
