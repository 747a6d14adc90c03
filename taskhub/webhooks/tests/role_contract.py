"""The lowest role each of this app's routes and methods needs, written out apart from the code.

Merged by taskhub/organizations/tests/test_role_walk.py with every installed app's contract.
"""

from taskhub.tenancy.roles import Role

CONTRACT: dict[tuple[str, str], Role] = {
    ("api/v1/webhooks/", "GET"): Role.ADMIN,
    ("api/v1/webhooks/", "POST"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:id>/", "GET"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:id>/", "PATCH"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:id>/", "DELETE"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:id>/rotate-secret/", "POST"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:id>/ping/", "POST"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:webhook_id>/deliveries/", "GET"): Role.ADMIN,
    ("api/v1/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver/", "POST"): Role.ADMIN,
}
