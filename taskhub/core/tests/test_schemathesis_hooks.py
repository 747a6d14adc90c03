"""The cross-tenant checks' matching rule, on the strings the live run meets."""

import pytest

from tests.support.schemathesis_hooks import carries

SLUG = "peer-b-91ac78f5"


@pytest.mark.parametrize(
    "text",
    [
        f'{{"slug":"{SLUG}"}}',
        f'{{"detail":"No organization {SLUG}."}}',
        f"/api/v1/organizations/?slug={SLUG}&page=2",
        SLUG,
    ],
)
def test_a_whole_value_is_found(text):
    assert carries(text, SLUG)


@pytest.mark.parametrize(
    "text",
    [
        # A's own organization named like B's: its slug only starts with B's.
        f'{{"slug":"{SLUG}-2"}}',
        f'{{"email":"{SLUG}-invitee@example.com"}}',
        f'{{"username":"x{SLUG}"}}',
        f'{{"email":"{SLUG}.old@example.com"}}',
    ],
)
def test_a_longer_value_that_contains_it_is_not(text):
    assert not carries(text, SLUG)


def test_an_email_is_matched_whole():
    email = "peer-b-member-d52c38@example.com"
    assert carries(f'["{email}"]', email)
    assert not carries(f'["{email}.evil"]', email)
