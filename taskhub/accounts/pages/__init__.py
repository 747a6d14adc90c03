"""The pages behind every link the service emails: accept an invitation, verify an address, reset a password.

Served by the app itself under ``/account/<page>/?token=...`` (``taskhub.accounts.links`` builds
the links), as small server-rendered HTML: no JavaScript, one static stylesheet, a strict
Content Security Policy of their own, forms that POST back with Django's CSRF token. The views
only parse forms and call the same services as the API; a refusal is a readable page, never
JSON or a 500.
"""
