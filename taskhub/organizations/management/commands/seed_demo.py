import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization, slug_matches
from taskhub.organizations.services.organizations import organization_create
from taskhub.tenancy.roles import Role


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its owner, and print how to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--organization", default="demo", help="slug of the demo organization")
        parser.add_argument("--password", help="default: a new random password on every run")
        parser.add_argument("--force", action="store_true", help="allow running with DEBUG=False")
        parser.add_argument(
            "--base-url",
            help="where the API serves, for the printed commands (default: http://127.0.0.1:$PORT, PORT 8000)",
        )

    def handle(self, *args: object, **options: str) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates a known account; it runs only with DEBUG=True (or --force).")
        password = options["password"] or secrets.token_urlsafe(12)
        with rls.bypass("seed_demo: create the demo organization"):
            user, _ = User.objects.get_or_create(
                username=options["username"], defaults={"email": f"{options['username']}@example.com"}
            )
            user.set_password(password)
            # The platform made the address up: it counts as verified (unless another account proved it).
            user.email_verified = bool(user.email) and not (
                User.objects.filter(email__iexact=user.email, email_verified=True).exclude(pk=user.pk).exists()
            )
            user.save(update_fields=["password", "email_verified"])
            organization = Organization.objects.filter(slug_matches(options["organization"])).first()
            if organization is None:
                organization, _ = organization_create(
                    name="Demo Organization", slug=options["organization"], owner=user
                )
            # On the connection bypass() runs its transaction on (the platform's, where there is one).
            rls.set_context(organization_id=organization.pk, using=rls.platform_alias())
            Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": Role.OWNER})
        base_url = (options["base_url"] or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}").rstrip("/")
        self.stdout.write(
            demo_block(organization=organization.slug, username=user.username, password=password, base_url=base_url)
        )


BAR = "=" * 79


def demo_block(*, organization: str, username: str, password: str, base_url: str) -> str:
    """The sign-in details between two bars under a title, so they stand out on the console."""
    return (
        f"{BAR}\n"
        "DEMO ACCOUNT (seed_demo)\n"
        f"{BAR}\n"
        f"  organization  {organization}\n"
        f"  username      {username}\n"
        f"  password      {password}\n"
        "\n"
        "  Get a token:\n"
        f"    curl -s -X POST {base_url}/api/v1/auth/token/ -H 'Content-Type: application/json' \\\n"
        f'      -d \'{{"username": "{username}", "password": "{password}"}}\'\n'
        "\n"
        f"  API docs  {base_url}/api/docs/\n"
        f"  Health    {base_url}/health/\n"
        f"{BAR}"
    )
