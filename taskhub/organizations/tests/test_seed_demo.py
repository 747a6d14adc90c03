import pytest
from django.core.management import CommandError, call_command

from taskhub.accounts.models import User
from taskhub.organizations.models import Membership, Organization


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_working_credentials(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo", password="first-pass-123")
    call_command("seed_demo", password="second-pass-456")
    output = capsys.readouterr().out

    assert Organization.objects.filter(slug="demo").count() == 1
    user = User.objects.get(username="demo")
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert user.check_password("second-pass-456")
    assert "second-pass-456" in output
    assert "/api/v1/auth/token/" in output


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=True"):
        call_command("seed_demo")
    assert not User.objects.filter(username="demo").exists()
