"""Release gate: the deployment checklist, judged against the live environment.

Prints one ``[PASS]``/``[FAIL]`` line per checklist item (or JSON with ``--json``) and
raises CommandError, so ``manage.py`` exits 1, when any item fails. System check warnings
fail it too: a correct production environment has none, and a deliberate exception belongs
in SILENCED_SYSTEM_CHECKS where review sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from taskhub.core import health
from taskhub.core.deploy_checks import CHECKLIST, REDIS_BACKENDS, VERIFIED_SSLMODES

MAX_CLOCK_SKEW_SECONDS = 5.0
MANIFEST_NAME = "staticfiles.json"


@dataclass(frozen=True)
class Item:
    """One checklist line: passed or not, and why."""

    name: str
    ok: bool
    detail: str


Probe = Callable[[], tuple[bool, str]]


def _summary(message: checks.CheckMessage) -> str:
    # The first sentence names the problem; Django's messages go on to explain at length.
    first_sentence = " ".join(str(message.msg).split()).split(". ", 1)[0].rstrip(".")
    return f"{message.id}: {first_sentence}"


def _one_line(messages: list[checks.CheckMessage]) -> str:
    return "; ".join(_summary(message) for message in messages)


def system_check_items(*, database_reachable: bool) -> list[Item]:
    """Run every system check, deploy checks included, as one item per checklist entry."""
    # Database-tagged checks can only crash on an unreachable database; its item already fails.
    databases = [DEFAULT_DB_ALIAS] if database_reachable else None
    try:
        messages = checks.run_checks(include_deployment_checks=True, databases=databases)
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failed gate, not a traceback
        return [Item("system_checks", False, f"the system checks crashed: {type(exc).__name__}: {exc}")]
    issues = [message for message in messages if message.level >= checks.WARNING and not message.is_silenced()]
    owner = {check_id: entry.name for entry in CHECKLIST for check_id in entry.ids}
    found: dict[str, list[checks.CheckMessage]] = {entry.name: [] for entry in CHECKLIST}
    others: list[checks.CheckMessage] = []
    for message in issues:
        if message.id in owner:
            found[owner[message.id]].append(message)
        else:
            others.append(message)
    items = [
        Item(entry.name, not found[entry.name], _one_line(found[entry.name]) or entry.passes_when)
        for entry in CHECKLIST
    ]
    items.append(Item("system_checks", not others, _one_line(others) or "no other system check reports an issue"))
    return items


def probe_database() -> tuple[bool, str]:
    """Pass when the default database answers a query."""
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, f"reachable ({connection.vendor})"


def probe_database_tls() -> tuple[bool, str]:
    """Pass when the connection is encrypted, or when sslmode does not ask for it."""
    connection = connections[DEFAULT_DB_ALIAS]
    sslmode = connection.settings_dict.get("OPTIONS", {}).get("sslmode")
    if sslmode not in VERIFIED_SSLMODES:
        return True, f"not required (sslmode {sslmode or 'unset'}, {connection.vendor})"
    if connection.vendor != "postgresql":
        return False, f"sslmode={sslmode} but TLS cannot be verified on {connection.vendor}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        row = cursor.fetchone()
    if row and row[0]:
        return True, f"in use ({row[1]}, sslmode={sslmode})"
    return False, f"sslmode={sslmode} but this connection is not encrypted"


def probe_migrations() -> tuple[bool, str]:
    """Pass when no migration is pending."""
    pending = health.check_migrations()
    if pending is None:
        return True, "all applied"
    return False, f"{pending}; run manage.py migrate"


def probe_redis() -> tuple[bool, str]:
    """Pass when the cache is Redis and answers a write and a read."""
    backend = str(settings.CACHES["default"]["BACKEND"])
    if backend not in REDIS_BACKENDS:
        return False, f"the cache is {backend.rsplit('.', 1)[-1]}, not Redis; set REDIS_URL"
    problem = health.check_cache()
    if problem:
        return False, f"Redis {problem}"
    return True, "set/get round trip ok"


def probe_static_files() -> tuple[bool, str]:
    """Pass when collectstatic has written its manifest into STATIC_ROOT."""
    if not settings.STATIC_ROOT:
        return False, "STATIC_ROOT is not set"
    manifest = Path(settings.STATIC_ROOT) / MANIFEST_NAME
    if not manifest.is_file():
        return False, f"{manifest} is missing; run manage.py collectstatic"
    try:
        paths = json.loads(manifest.read_text()).get("paths", {})
    except (ValueError, AttributeError):
        return False, f"{manifest} is not a collectstatic manifest; run manage.py collectstatic"
    return True, f"{manifest} lists {len(paths)} files"


def probe_superuser() -> tuple[bool, str]:
    """Pass when someone can sign in to the admin to act on an incident."""
    count = get_user_model()._default_manager.filter(is_superuser=True, is_active=True).count()
    if count:
        return True, f"{count} active"
    return False, "none active; run manage.py createsuperuser"


def probe_clock() -> tuple[bool, str]:
    """Pass when the database's clock and this host's agree within a few seconds."""
    connection = connections[DEFAULT_DB_ALIAS]
    # clock_timestamp(), unlike now(), is not frozen at the start of the transaction.
    sql = "SELECT clock_timestamp()" if connection.vendor == "postgresql" else "SELECT CURRENT_TIMESTAMP"
    before = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        value: Any = cursor.fetchone()[0]
    after = datetime.now(UTC)
    database_now = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if database_now.tzinfo is None:
        database_now = database_now.replace(tzinfo=UTC)
    skew = abs((database_now - (before + (after - before) / 2)).total_seconds())
    ok = skew <= MAX_CLOCK_SKEW_SECONDS
    return ok, f"database clock {'within' if ok else 'off by more than'} {MAX_CLOCK_SKEW_SECONDS:g} s ({skew:.2f} s)"


def probe_database_roles() -> tuple[bool, str]:
    """Pass when the runtime role cannot lower the tenant wall; name each of the three roles."""
    from taskhub.core import dbroles  # noqa: PLC0415

    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return True, "not PostgreSQL: no row-level security, only the application layer"
    names = dbroles.role_names()
    app = dbroles.inspect_role(DEFAULT_DB_ALIAS)
    parts = [f"app {app.name}: {'; '.join(app.problems) or 'owns nothing, no superuser, no BYPASSRLS'}"]
    if not dbroles.split():
        parts.append(f"one role for owner, app and platform ({names['app'] or app.name}): development mode")
    else:
        parts.append(f"owner {names['owner']}")
        if "platform" in settings.DATABASES:
            platform = dbroles.inspect_role("platform")
            parts.append(f"platform {platform.name}: {'BYPASSRLS' if platform.bypassrls else 'NO BYPASSRLS'}")
            if not platform.bypassrls and not platform.superuser:
                return False, "; ".join([*parts, "the platform role cannot see across tenants"])
    ok = not app.problems or settings.DB_ALLOW_OWNER_ROLE
    if app.problems and settings.DB_ALLOW_OWNER_ROLE:
        parts.append("accepted by DB_ALLOW_OWNER_ROLE: row-level security guards only against a forgotten filter")
    return ok, "; ".join(parts)


def probe_tenant_context() -> tuple[bool, str]:
    """Pass when the database accepts this process's tenant contexts (its key matches SECRET_KEY)."""
    import uuid  # noqa: PLC0415

    from django.db import transaction  # noqa: PLC0415

    from taskhub.core import rls  # noqa: PLC0415

    if not rls.enabled():
        return True, "not PostgreSQL: no tenant context to verify"
    try:
        with transaction.atomic():
            rls.set_context(organization_id=uuid.uuid4())
    except Exception as exc:  # noqa: BLE001 - the database's refusal is the finding
        return False, f"refused ({' '.join(str(exc).split())[:160]}); run manage.py migrate with this SECRET_KEY"
    return True, "the database verifies contexts signed with this SECRET_KEY"


def probe_worker() -> tuple[bool, str]:
    """Pass when a queue worker has sent a heartbeat recently (or jobs run inline, without a queue)."""
    from taskhub.core import jobs  # noqa: PLC0415

    if not jobs.queue_enabled():
        return True, "JOBS_INLINE: jobs run inside the code that enqueues them, no worker needed"
    state = jobs.queue_state()
    waiting = f"{state.due} due, {state.failed} failed"
    if state.worker_silent_seconds is None:
        return False, f"no worker is registered with this database ({waiting}); start `manage.py worker`"
    if state.worker_silent_seconds > settings.JOBS_WORKER_SEEN_SECONDS:
        return False, f"no worker heartbeat for {int(state.worker_silent_seconds)}s ({waiting}); is the worker running?"
    return True, f"a worker's heartbeat {int(state.worker_silent_seconds)}s ago ({waiting})"


def _run(name: str, probe: Probe) -> Item:
    try:
        ok, detail = probe()
    except Exception as exc:  # noqa: BLE001 - a probe that raises has failed, and the others still run
        return Item(name, False, f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    return Item(name, ok, detail)


def checklist() -> list[Item]:
    """Return every checklist item, the live ones after the configuration ones."""
    database = _run("database", probe_database)
    live = [database]
    for name, probe in (
        ("database_tls", probe_database_tls),
        ("migrations", probe_migrations),
        ("superuser", probe_superuser),
        ("clock", probe_clock),
        ("database_roles", probe_database_roles),
        ("tenant_context", probe_tenant_context),
        ("worker", probe_worker),
    ):
        live.append(_run(name, probe) if database.ok else Item(name, False, "not checked: the database is unreachable"))
    live += [_run("redis", probe_redis), _run("static_files", probe_static_files)]
    return system_check_items(database_reachable=database.ok) + live


class Command(BaseCommand):
    help = "Check this environment against the deployment checklist; exit 1 if any item fails."
    # It runs the system checks itself and reports them as items rather than stopping on them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help='Print {"ok", "items": [{"name", "ok", "detail"}]}.')

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the checklist and fail when any item fails."""
        items = checklist()
        ok = all(item.ok for item in items)
        if options["json"]:
            self.stdout.write(json.dumps({"ok": ok, "items": [asdict(item) for item in items]}, indent=2))
        else:
            for item in items:
                mark = self.style.SUCCESS("[PASS]") if item.ok else self.style.ERROR("[FAIL]")
                self.stdout.write(f"{mark} {item.name}: {item.detail}")
        if not ok:
            failed = [item.name for item in items if not item.ok]
            raise CommandError(f"Preflight failed {len(failed)} of {len(items)} items: {', '.join(failed)}.")
