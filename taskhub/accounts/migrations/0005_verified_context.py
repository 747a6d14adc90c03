"""The API key policy reads the verified context (taskhub.core.rls, form 3), and the app's role
may not make anyone staff or superuser: a trigger refuses any change of those columns unless the
role running it bypasses row-level security (platform) or owns the table (migrations)."""

from django.db import migrations

from taskhub.core.rls import EXTRA, RewriteRowLevelSecurityPolicy

GUARD = """
CREATE FUNCTION taskhub_rls.guard_user_privileges() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT (NEW.is_superuser OR NEW.is_staff) THEN
            RETURN NEW;
        END IF;
    ELSIF NEW.is_superuser IS NOT DISTINCT FROM OLD.is_superuser AND NEW.is_staff IS NOT DISTINCT FROM OLD.is_staff THEN
        RETURN NEW;
    END IF;
    IF (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)
       OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'role % may not grant or change is_superuser/is_staff (use the platform role)', current_user
        USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION taskhub_rls.guard_user_privileges() FROM PUBLIC;
CREATE TRIGGER taskhub_guard_user_privileges BEFORE INSERT OR UPDATE ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION taskhub_rls.guard_user_privileges();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS taskhub_guard_user_privileges ON accounts_user;
DROP FUNCTION IF EXISTS taskhub_rls.guard_user_privileges();
"""


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that does nothing on other databases (SQLite in development)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_policy_bypass_as_case"),
        ("core", "0001_tenant_context"),
    ]

    operations = [
        RewriteRowLevelSecurityPolicy(
            "apikey",
            extra=EXTRA["prefix"],
            form=3,
            previous_form=2,
            previous_extra="prefix = NULLIF(current_setting('app.api_key_prefix', true), '')",
        ),
        PostgreSQLOnly(GUARD, UNGUARD),
    ]
