"""String fields take strings only (found by schemathesis: ``{"slug": 0}`` renamed an organization)."""

import pytest
from rest_framework import serializers

from taskhub.core import fields


class Sample(serializers.Serializer):
    text = fields.CharField()
    code = fields.RegexField(r"^[A-Z]+$")
    email = fields.EmailField()
    slug = fields.SlugField()


VALID = {"text": "0", "code": "AB", "email": "a@example.com", "slug": "ab-0"}


@pytest.mark.parametrize("name", list(VALID))
@pytest.mark.parametrize("value", [0, 1.5, True, [], {}])
def test_a_non_string_is_invalid_not_read_as_text(name, value):
    serializer = Sample(data={**VALID, name: value})

    assert not serializer.is_valid()
    assert list(serializer.errors) == [name]


def test_strings_pass_as_before():
    serializer = Sample(data=VALID)

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == VALID


@pytest.mark.django_db
def test_a_number_for_the_organization_slug_answers_400(clients_a):
    response = clients_a["owner"].patch("/api/v1/organization/", {"name": "0", "slug": 0}, format="json")

    assert response.status_code == 400, response.content
    assert "slug" in response.json()["errors"]


@pytest.mark.django_db
def test_a_number_for_a_project_description_answers_400(clients_a):
    body = {"key": "NUM", "name": "Numbers", "description": 0}
    response = clients_a["member"].post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400, response.content
    assert "description" in response.json()["errors"]


class Limited(serializers.Serializer):
    text = fields.CharField(max_length=5)
    code = fields.RegexField(r"^[A-Z]+$", max_length=5)
    email = fields.EmailField(max_length=20)
    slug = fields.SlugField(max_length=5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("text", "\tabcde"), ("code", "ABCDE "), ("email", " a@example.com       "), ("slug", "ab-cd\n")],
)
def test_max_length_counts_the_whitespace_that_was_sent(name, value):
    valid = {"text": "abcde", "code": "ABCDE", "email": "a@example.com", "slug": "ab-cd"}
    assert Limited(data=valid).is_valid()

    serializer = Limited(data={**valid, name: value})

    assert not serializer.is_valid()
    assert serializer.errors[name][0].code == "max_length"


@pytest.mark.django_db
def test_a_project_name_of_201_characters_with_a_leading_tab_answers_400_and_stores_nothing(clients_a):
    """schemathesis, seed 3: the schema says maxLength 200; DRF counted after trimming the tab."""
    body = {"key": "TAB", "name": "\t\u00a7\u0007" + "*" * 198}
    assert len(body["name"]) == 201

    response = clients_a["member"].post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"]["name"][0]["code"] == "max_length"
    assert clients_a["member"].get("/api/v1/projects/").json()["results"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("code", " AB"), ("code", "AB\n"), ("email", " a@example.com"), ("slug", "ab-0 "), ("slug", "\tab-0")],
)
def test_a_pattern_or_format_is_checked_on_the_string_as_sent(name, value):
    serializer = Sample(data={**VALID, name: value})

    assert not serializer.is_valid()
    assert list(serializer.errors) == [name]


def test_plain_text_is_still_trimmed():
    serializer = Sample(data={**VALID, "text": "  some words\n"})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["text"] == "some words"


@pytest.mark.django_db
@pytest.mark.parametrize("key", [" ABC", "ABC ", "ABC\n"])
def test_a_project_key_with_whitespace_answers_400(clients_a, key):
    response = clients_a["member"].post("/api/v1/projects/", {"key": key, "name": "Spaced"}, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["key"]
