"""Comments through the HTTP API: who may write, edit and delete them, what a body may be, audit, isolation."""

import io
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.audit.models import AuditEvent
from taskhub.comments.models import Comment
from taskhub.core import rls
from taskhub.organizations.models import Organization
from taskhub.organizations.transfer import export_to, import_file
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

FIELDS = {"id", "task", "author", "api_key", "body", "created_at", "updated_at"}
WRITERS = [Role.MEMBER, Role.ADMIN, Role.OWNER]
MAX = 10_000


def thread(task: Any) -> str:
    return f"/api/v1/tasks/{getattr(task, 'pk', task)}/comments/"


def detail(comment: Any) -> str:
    return f"/api/v1/comments/{getattr(comment, 'pk', comment)}/"


def post(client: APIClient, task: Any, body: Any = "Looks good") -> Any:
    return client.post(thread(task), {"body": body}, format="json")


def listed(client: APIClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def events(action: str, comment: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(getattr(comment, "pk", comment))))


def body_of(comment: Comment) -> str:
    comment.refresh_from_db()
    return comment.body


# Writing


@pytest.mark.parametrize("role", WRITERS)
def test_members_admins_and_owners_comment_on_a_task(clients_a, tenant_a, task, role):
    response = post(clients_a[role], task, "Ship it on Monday")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["task"] == str(task.pk)
    assert body["author"] == str(tenant_a.users[role].pk)
    assert body["api_key"] is None
    assert body["body"] == "Ship it on Monday"
    comment = Comment.objects.get(pk=body["id"])
    assert comment.organization_id == tenant_a.organization.pk
    assert comment.task_id == task.pk


def test_a_viewer_reads_comments_but_cannot_post(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk)
    viewer = clients_a[Role.VIEWER]

    assert [row["id"] for row in listed(viewer, thread(task))] == [str(comment.pk)]
    assert viewer.get(detail(comment)).json()["body"] == "A thought"
    response = post(viewer, task)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Comment.objects.count() == 1


def test_the_detail_shows_what_the_list_shows(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk)
    client = clients_a[Role.VIEWER]

    assert listed(client, thread(task)) == [client.get(detail(comment)).json()]


# The body: plain text, 1 to 10,000 characters


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "blank"),
        ("  \n\t ", "blank"),
        ("x" * (MAX + 1), "max_length"),
        # Measured as sent: whitespace that trimming would remove still counts.
        (" " + "x" * MAX, "max_length"),
        (123, "invalid"),
        (None, "null"),
        (["a"], "invalid"),
    ],
    ids=["empty", "whitespace", "10001", "10000-plus-a-space", "number", "null", "list"],
)
def test_a_body_outside_the_rules_is_a_400_naming_it(clients_a, task, value, code):
    response = post(clients_a[Role.MEMBER], task, value)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert [error["code"] for error in response.json()["errors"]["body"]] == [code]
    assert not Comment.objects.exists()


def test_a_body_holding_a_nul_character_is_refused(clients_a, task):
    # PostgreSQL text cannot hold one; the JSON parser refuses it before the field does.
    response = post(clients_a[Role.MEMBER], task, "a\x00b")

    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_a_body_is_required(clients_a, task):
    response = clients_a[Role.MEMBER].post(thread(task), {}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["body"][0]["code"] == "required"


def test_a_body_of_ten_thousand_characters_is_taken_whole(clients_a, task):
    text = "é" * MAX

    response = post(clients_a[Role.MEMBER], task, text)

    assert response.status_code == 201, response.content[:200]
    assert response.json()["body"] == text


def test_the_body_is_trimmed_at_its_ends_and_keeps_its_lines(clients_a, task):
    response = post(clients_a[Role.MEMBER], task, "\n  First line\n\n  second, indented\t\n ")

    assert response.status_code == 201
    assert response.json()["body"] == "First line\n\n  second, indented"


def test_fields_other_than_the_body_are_ignored(clients_a, tenant_a, tenant_b, task, other_task):
    member = tenant_a.users[Role.MEMBER]
    forged = {
        "id": "00000000-0000-4000-8000-00000000f0f0",
        "organization": str(tenant_b.organization.pk),
        "task": str(other_task.pk),
        "author": str(tenant_b.owner.pk),
        "api_key": str(uuid4()),
        "created_at": "2001-01-01T00:00:00Z",
    }

    created = clients_a[Role.MEMBER].post(thread(task), {"body": "Mine", **forged}, format="json")
    assert created.status_code == 201, created.content
    comment = Comment.objects.get(pk=created.json()["id"])
    edited = clients_a[Role.MEMBER].patch(detail(comment), {"body": "Still mine", **forged}, format="json")

    assert edited.status_code == 200, edited.content
    comment.refresh_from_db()
    assert (comment.organization_id, comment.task_id, comment.author_id, comment.api_key_id) == (
        tenant_a.organization.pk,
        task.pk,
        member.pk,
        None,
    )
    assert str(comment.pk) != forged["id"]
    assert comment.created_at.year > 2001
    assert comment.body == "Still mine"


# Listing a task's thread


def test_a_thread_lists_oldest_first_and_only_its_task(clients_a, tenant_a, task, other_task, make_comment):
    member = tenant_a.users[Role.MEMBER].pk
    made = [make_comment(task, member, f"comment {i}") for i in range(5)]
    make_comment(other_task, member, "elsewhere")
    client = clients_a[Role.VIEWER]

    assert [row["body"] for row in listed(client, thread(task))] == [c.body for c in made]
    assert [row["body"] for row in listed(client, thread(task), ordering="-created_at")] == [
        c.body for c in reversed(made)
    ]
    assert [row["body"] for row in listed(client, thread(other_task))] == ["elsewhere"]


def test_cursor_pages_walk_a_thread_without_gaps_or_repeats(clients_a, tenant_a, task, make_comment):
    made = [str(make_comment(task, tenant_a.users[Role.MEMBER].pk, f"c{i}").pk) for i in range(7)]
    client = clients_a[Role.VIEWER]

    seen = []
    url = f"{thread(task)}?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == made


@pytest.mark.parametrize("ordering", ["updated_at", "body", "-author", "created_at,bogus"])
def test_a_thread_refuses_an_ordering_it_does_not_offer(clients_a, task, ordering):
    response = clients_a[Role.VIEWER].get(thread(task), {"ordering": ordering})

    assert response.status_code == 400
    assert "ordering" in response.json()["errors"]


def test_an_empty_thread_is_an_empty_list(clients_a, task):
    assert listed(clients_a[Role.VIEWER], thread(task)) == []


# Editing: the writer only


def test_the_author_edits_a_comment_and_the_change_is_audited(clients_a, tenant_a, task, make_comment):
    member = tenant_a.users[Role.MEMBER]
    comment = make_comment(task, member.pk, "Frist")
    before = Comment.objects.get(pk=comment.pk).updated_at

    response = clients_a[Role.MEMBER].patch(detail(comment), {"body": "First"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["body"] == "First"
    comment.refresh_from_db()
    assert comment.body == "First"
    assert comment.updated_at > before
    (event,) = events("comment.updated", comment)
    assert event.changes == {"body": ["Frist", "First"]}
    assert event.actor_user_id == member.pk


def test_put_replaces_the_body_and_requires_it(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk)
    client = clients_a[Role.MEMBER]

    assert client.put(detail(comment), {}, format="json").status_code == 400
    response = client.put(detail(comment), {"body": "Replaced"}, format="json")
    assert response.status_code == 200
    assert body_of(comment) == "Replaced"


def test_an_edit_that_changes_nothing_records_nothing(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "Same")
    client = clients_a[Role.MEMBER]

    assert client.patch(detail(comment), {"body": "Same"}, format="json").status_code == 200
    assert client.patch(detail(comment), {}, format="json").status_code == 200
    assert events("comment.updated", comment) == []


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER, Role.MEMBER])
def test_nobody_but_the_author_edits_a_comment_not_even_an_admin(clients_a, tenant_a, task, make_comment, role):
    # The author is another member of the organization than the caller.
    author = tenant_a.users[Role.VIEWER if role == Role.MEMBER else Role.MEMBER]
    comment = make_comment(task, author.pk, "Theirs")

    for method in ("patch", "put"):
        response = getattr(clients_a[role], method)(detail(comment), {"body": "Mine now"}, format="json")
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "not_author"
    assert body_of(comment) == "Theirs"
    assert events("comment.updated", comment) == []


def test_a_viewer_cannot_edit_even_a_comment_written_before_the_demotion(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.VIEWER].pk, "Old")

    response = clients_a[Role.VIEWER].patch(detail(comment), {"body": "New"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert body_of(comment) == "Old"


def test_an_edit_to_an_invalid_body_is_a_400(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "Fine")
    client = clients_a[Role.MEMBER]

    assert client.patch(detail(comment), {"body": ""}, format="json").status_code == 400
    assert client.patch(detail(comment), {"body": "x" * (MAX + 1)}, format="json").status_code == 400
    assert body_of(comment) == "Fine"


def test_a_comment_whose_author_is_gone_can_be_edited_by_no_one(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "Orphan")
    Comment.objects.filter(pk=comment.pk).update(author=None)  # what deleting the user does (SET_NULL)

    for role in (Role.MEMBER, Role.ADMIN, Role.OWNER):
        assert clients_a[role].patch(detail(comment), {"body": "x"}, format="json").status_code == 403
    assert clients_a[Role.ADMIN].delete(detail(comment)).status_code == 204


# Deleting: the writer, or an admin or owner


def test_the_author_deletes_a_comment_and_the_deletion_is_audited(clients_a, tenant_a, task, make_comment):
    member = tenant_a.users[Role.MEMBER]
    comment = make_comment(task, member.pk, "Regret")

    response = clients_a[Role.MEMBER].delete(detail(comment))

    assert response.status_code == 204
    assert not Comment.objects.filter(pk=comment.pk).exists()
    (event,) = events("comment.deleted", comment)
    assert event.changes == {
        "task": [str(task.pk), None],
        "author": [str(member.pk), None],
        "body": ["Regret", None],
    }
    assert event.target_type == "comments.comment"
    assert event.target_label == "Regret"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_an_admin_or_owner_deletes_anyones_comment(clients_a, tenant_a, task, make_comment, role):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "Spam")

    assert clients_a[role].delete(detail(comment)).status_code == 204
    assert not Comment.objects.filter(pk=comment.pk).exists()
    (event,) = events("comment.deleted", comment)
    assert event.actor_user_id == tenant_a.users[role].pk


def test_a_member_cannot_delete_another_members_comment(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.ADMIN].pk, "The admin's")

    response = clients_a[Role.MEMBER].delete(detail(comment))

    assert response.status_code == 403
    assert response.json()["code"] == "not_author"
    assert Comment.objects.filter(pk=comment.pk).exists()
    assert events("comment.deleted", comment) == []


def test_a_viewer_cannot_delete_a_comment(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.VIEWER].pk)

    response = clients_a[Role.VIEWER].delete(detail(comment))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Comment.objects.filter(pk=comment.pk).exists()


def test_deleting_a_task_or_its_project_deletes_its_comments(clients_a, tenant_a, task, other_task, make_comment):
    member = tenant_a.users[Role.MEMBER].pk
    make_comment(task, member)
    make_comment(task, member)
    kept = make_comment(other_task, member)

    assert clients_a[Role.MEMBER].delete(f"/api/v1/tasks/{task.pk}/").status_code == 204
    assert list(Comment.objects.values_list("pk", flat=True)) == [kept.pk]
    assert clients_a[Role.VIEWER].get(thread(task)).status_code == 404

    assert clients_a[Role.ADMIN].delete(f"/api/v1/projects/{other_task.project_id}/").status_code == 204
    assert not Comment.objects.exists()


# Creation is audited


def test_creating_a_comment_is_audited(clients_a, tenant_a, task):
    response = post(clients_a[Role.MEMBER], task, "Noted")

    (event,) = events("comment.created", response.json()["id"])
    member = tenant_a.users[Role.MEMBER]
    assert event.organization_id == tenant_a.organization.pk
    assert event.actor_user_id == member.pk
    assert event.changes == {
        "task": [None, str(task.pk)],
        "author": [None, str(member.pk)],
        "body": [None, "Noted"],
    }


# API keys: a member key writes as itself


def test_a_member_api_key_comments_as_itself_and_alone_edits_that_comment(clients_a, api_key_client, task):
    bot = api_key_client("member")
    other_bot = api_key_client("member", name="other")

    created = post(bot, task, "Build 42 passed")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["author"], body["api_key"]) == (None, bot.key_id)

    assert bot.patch(detail(body["id"]), {"body": "Build 42 passed (retried)"}, format="json").status_code == 200
    for client in (other_bot, clients_a[Role.ADMIN], clients_a[Role.OWNER]):
        refused = client.patch(detail(body["id"]), {"body": "Hijacked"}, format="json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_author"
    assert other_bot.delete(detail(body["id"])).status_code == 403
    assert Comment.objects.get(pk=body["id"]).body == "Build 42 passed (retried)"

    (event,) = events("comment.created", body["id"])
    assert event.actor_api_key_id is not None
    assert str(event.actor_api_key_id) == bot.key_id
    assert event.changes["api_key"] == [None, bot.key_id]

    assert bot.delete(detail(body["id"])).status_code == 204


def test_an_api_key_cannot_edit_or_delete_a_users_comment(clients_a, api_key_client, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "Human")
    bot = api_key_client("member")

    assert bot.patch(detail(comment), {"body": "Robot"}, format="json").status_code == 403
    assert bot.delete(detail(comment)).status_code == 403
    assert body_of(comment) == "Human"


def test_an_admin_deletes_an_api_keys_comment(clients_a, api_key_client, task):
    bot = api_key_client("member")
    comment_id = post(bot, task, "Noise").json()["id"]

    assert clients_a[Role.ADMIN].delete(detail(comment_id)).status_code == 204


def test_a_viewer_api_key_reads_but_cannot_comment(clients_a, api_key_client, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk)
    bot = api_key_client("viewer")

    assert bot.get(thread(task)).status_code == 200
    assert bot.get(detail(comment)).status_code == 200
    assert post(bot, task).status_code == 403
    assert bot.patch(detail(comment), {"body": "x"}, format="json").status_code == 403
    assert bot.delete(detail(comment)).status_code == 403
    assert Comment.objects.count() == 1


# Another organization's tasks and comments are not found


def test_another_organizations_task_has_no_thread_here(clients_a, clients_b, foreign_task):
    post(clients_b[Role.MEMBER], foreign_task, "Theirs")

    for role in (Role.VIEWER, Role.OWNER):
        response = clients_a[role].get(thread(foreign_task))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    response = post(clients_a[Role.OWNER], foreign_task, "Intrusion")
    assert response.status_code == 404
    assert list(Comment.objects.values_list("body", flat=True)) == ["Theirs"]


def test_a_task_that_does_not_exist_has_no_thread(clients_a):
    assert clients_a[Role.VIEWER].get(thread(uuid4())).status_code == 404
    assert post(clients_a[Role.MEMBER], uuid4()).status_code == 404
    assert not Comment.objects.exists()


def test_another_organizations_comment_is_not_found(clients_a, clients_b, foreign_task):
    comment_id = post(clients_b[Role.MEMBER], foreign_task, "Theirs").json()["id"]
    owner = clients_a[Role.OWNER]

    assert owner.get(detail(comment_id)).status_code == 404
    assert owner.put(detail(comment_id), {"body": "x"}, format="json").status_code == 404
    assert owner.patch(detail(comment_id), {"body": "x"}, format="json").status_code == 404
    assert owner.delete(detail(comment_id)).status_code == 404
    assert Comment.objects.get(pk=comment_id).body == "Theirs"
    assert not AuditEvent.objects.filter(target_id=comment_id).exclude(action="comment.created").exists()


# Conditional writes: ETag and If-Match


def test_a_stale_if_match_is_refused_with_412(clients_a, tenant_a, task, make_comment):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk, "v1")
    client = clients_a[Role.MEMBER]
    first = client.get(detail(comment))
    etag = first["ETag"]
    assert etag

    changed = client.patch(detail(comment), {"body": "v2"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed["ETag"] == client.get(detail(comment))["ETag"]

    stale = client.patch(detail(comment), {"body": "v3"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert client.delete(detail(comment), HTTP_IF_MATCH=etag).status_code == 412
    assert body_of(comment) == "v2"

    assert client.delete(detail(comment), HTTP_IF_MATCH=changed["ETag"]).status_code == 204


# What each request costs


def test_a_thread_page_runs_two_queries_and_never_counts(
    clients_a, tenant_a, task, make_comment, django_assert_max_num_queries
):
    for i in range(105):
        make_comment(task, tenant_a.users[Role.MEMBER].pk, f"comment {i}")
    client = clients_a[Role.VIEWER]
    client.get(thread(task))  # warm the token cache

    for size in (1, 20, 100):
        for ordering in ("created_at", "-created_at"):
            # The task's existence in the organization, then the page.
            with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 2) as queries:
                assert len(listed(client, thread(task), page_size=size, ordering=ordering)) == size
            assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_a_comment_detail_runs_one_query(clients_a, tenant_a, task, make_comment, django_assert_max_num_queries):
    comment = make_comment(task, tenant_a.users[Role.MEMBER].pk)
    client = clients_a[Role.VIEWER]
    client.get(detail(comment))

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get(detail(comment)).status_code == 200


def test_commenting_stays_within_six_queries(clients_a, task, django_assert_max_num_queries):
    client = clients_a[Role.MEMBER]
    client.get(thread(task))

    # Service savepoint, task lock, insert, audit chain head lock (with the actor's username), audit
    # insert, release (SQLite only: on PostgreSQL COMMIT ends the savepoint; rls._Carrier).
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 6):
        assert post(client, task).status_code == 201


def test_no_task_row_is_touched_by_commenting(clients_a, task):
    before = Task.objects.values().get(pk=task.pk)

    post(clients_a[Role.MEMBER], task)

    assert Task.objects.values().get(pk=task.pk) == before


# Moving an organization (taskhub.organizations.transfer) takes its comments


def test_an_exported_organization_imports_with_its_comments(clients_a, api_key_client, tenant_a, task, make_comment):
    member = tenant_a.users[Role.MEMBER].pk
    make_comment(task, member, "From a person")
    assert post(api_key_client("member"), task, "From a key").status_code == 201

    exported = io.BytesIO()
    export_to(exported, organization=tenant_a.organization.slug)
    exported.seek(0)
    copy = import_file(exported, slug="org-a-copy", new_ids=True)

    with rls.bypass("test: read the copy"):
        copied = {c.body: c for c in Comment.objects.filter(organization=copy)}
        copied_task = Task.objects.get(organization=copy)
    assert set(copied) == {"From a person", "From a key"}
    assert {c.task_id for c in copied.values()} == {copied_task.pk}
    assert copied["From a person"].author_id == member
    # API keys are not imported: the key's comment stays, with no writer left to edit it.
    assert (copied["From a key"].author_id, copied["From a key"].api_key_id) == (None, None)
    assert Organization.objects.filter(slug="org-a-copy").exists()
