"""The lowest role each of this app's routes and methods needs, written out apart from the code.

Merged by taskhub/organizations/tests/test_role_walk.py with every installed app's contract; a
view mapping a method to a weaker permission fails there even though the walk follows the view.
"""

from taskhub.tenancy.roles import Role

CONTRACT: dict[tuple[str, str], Role] = {
    ("api/v1/organization/", "GET"): Role.VIEWER,
    ("api/v1/organization/", "PATCH"): Role.ADMIN,
    ("api/v1/organization/", "DELETE"): Role.OWNER,
    ("api/v1/organization/exports/", "POST"): Role.OWNER,
    ("api/v1/organization/exports/<uuid:id>/", "GET"): Role.OWNER,
    ("api/v1/organization/exports/<uuid:id>/download/", "GET"): Role.OWNER,
    ("api/v1/members/", "GET"): Role.VIEWER,
    ("api/v1/members/<uuid:id>/", "GET"): Role.VIEWER,
    ("api/v1/members/<uuid:id>/", "PATCH"): Role.ADMIN,
    # Anyone may leave; removing someone else needs admin, which the service checks
    # (test_members.py::test_a_viewer_may_leave_but_not_remove_others).
    ("api/v1/members/<uuid:id>/", "DELETE"): Role.VIEWER,
    ("api/v1/invitations/", "GET"): Role.ADMIN,
    ("api/v1/invitations/", "POST"): Role.ADMIN,
    ("api/v1/invitations/<uuid:id>/", "DELETE"): Role.ADMIN,
    ("api/v1/invitations/<uuid:id>/resend/", "POST"): Role.ADMIN,
}
