"""The lowest role each of this app's routes and methods needs, written out apart from the code.

Merged by taskhub/organizations/tests/test_role_walk.py with every installed app's contract; a
view mapping a method to a weaker permission fails there even though the walk follows the view.
"""

from taskhub.tenancy.roles import Role

CONTRACT: dict[tuple[str, str], Role] = {
    ("api/v1/api-keys/", "GET"): Role.ADMIN,
    ("api/v1/api-keys/", "POST"): Role.ADMIN,
    ("api/v1/api-keys/<uuid:id>/", "GET"): Role.ADMIN,
    ("api/v1/api-keys/<uuid:id>/", "DELETE"): Role.ADMIN,
    ("api/v1/api-keys/<uuid:id>/transfer/", "POST"): Role.ADMIN,
}
