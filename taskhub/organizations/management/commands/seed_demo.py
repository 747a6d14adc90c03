import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.roles import Role
from taskhub.organizations.services.organizations import organization_create


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its owner, and print how to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--organization", default="demo", help="slug of the demo organization")
        parser.add_argument("--password", help="default: a new random password on every run")
        parser.add_argument("--force", action="store_true", help="allow running with DEBUG=False")

    def handle(self, *args: object, **options: str) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates a known account; it runs only with DEBUG=True (or --force).")
        password = options["password"] or secrets.token_urlsafe(12)
        with rls.bypass("seed_demo: create the demo organization"):
            user, _ = User.objects.get_or_create(
                username=options["username"], defaults={"email": f"{options['username']}@example.com"}
            )
            user.set_password(password)
            user.save(update_fields=["password"])
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                organization, _ = organization_create(
                    name="Demo Organization", slug=options["organization"], owner=user
                )
            rls.set_context(organization_id=organization.pk)
            Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": Role.OWNER})
        self.stdout.write(
            f"Demo organization '{organization.slug}' with owner '{user.username}', password '{password}'.\n"
            "Get a token:\n"
            "  curl -s -X POST http://127.0.0.1:8000/api/v1/auth/token/ -H 'Content-Type: application/json' \\\n"
            f'    -d \'{{"username": "{user.username}", "password": "{password}"}}\'\n'
            "API docs: http://127.0.0.1:8000/api/docs/   Health: http://127.0.0.1:8000/health/"
        )
