"""The lowest role each of this app's routes and methods needs, written out apart from the code.

Merged by taskhub/organizations/tests/test_role_walk.py with every installed app's contract.
Above the floor the services decide per comment: only its writer edits it (an admin or owner
too gets 403 ``not_author``), its writer or an admin or owner deletes it (test_comment_apis.py).
"""

from taskhub.tenancy.roles import Role

CONTRACT: dict[tuple[str, str], Role] = {
    ("api/v1/tasks/<uuid:task_id>/comments/", "GET"): Role.VIEWER,
    ("api/v1/tasks/<uuid:task_id>/comments/", "POST"): Role.MEMBER,
    ("api/v1/comments/<uuid:id>/", "GET"): Role.VIEWER,
    ("api/v1/comments/<uuid:id>/", "PUT"): Role.MEMBER,
    ("api/v1/comments/<uuid:id>/", "PATCH"): Role.MEMBER,
    ("api/v1/comments/<uuid:id>/", "DELETE"): Role.MEMBER,
}
