"""The lowest role each of this app's routes and methods needs, written out apart from the code.

Merged by taskhub/organizations/tests/test_role_walk.py with every installed app's contract; a
view mapping a method to a weaker permission fails there even though the walk follows the view.
"""

from taskhub.tenancy.roles import Role

CONTRACT: dict[tuple[str, str], Role] = {
    ("api/v1/audit-events/", "GET"): Role.ADMIN,
    ("api/v1/audit-events/<uuid:id>/", "GET"): Role.ADMIN,
    ("api/v1/audit-events/verify/", "GET"): Role.ADMIN,
}
