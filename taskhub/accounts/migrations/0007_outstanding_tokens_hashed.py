"""Replace every refresh token kept whole in SimpleJWT's outstanding-token table by its SHA-256.

From now on the table keeps only the digest (taskhub/accounts/tokens.py); this rewrites the rows
written before, so a dump or backup taken after the migration holds no usable refresh token.
Blacklisting goes by ``jti``, so every session keeps working. Rows already holding a digest
(64 hex digits; a JWT always holds dots) are left alone, so running it twice changes nothing.
There is no way back: the reverse migration leaves the digests in place.
"""

import hashlib

from django.db import migrations

BATCH = 1000


def _hash_in_python(model, using):
    last_id = 0
    while True:
        rows = list(
            model.objects.using(using)
            .filter(id__gt=last_id, token__contains=".")  # noqa: S106 - a JWT's dot, not a password
            .order_by("id")
            .only("id", "token")[:BATCH]
        )
        if not rows:
            return
        for row in rows:
            row.token = hashlib.sha256(row.token.encode()).hexdigest()
        model.objects.using(using).bulk_update(rows, ["token"])
        last_id = rows[-1].id


def hash_outstanding_tokens(apps, schema_editor):
    model = apps.get_model("token_blacklist", "OutstandingToken")
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        # One statement, in the database: sha256() is built in since PostgreSQL 11.
        table = schema_editor.quote_name(model._meta.db_table)
        digest = "encode(sha256(convert_to(token, 'UTF8')), 'hex')"
        sql = f"UPDATE {table} SET token = {digest} WHERE strpos(token, '.') > 0"  # noqa: S608 - our own table, quoted
        with connection.cursor() as cursor:
            cursor.execute(sql)
    else:
        _hash_in_python(model, connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_accounts_email_verified_tokens"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [
        migrations.RunPython(hash_outstanding_tokens, migrations.RunPython.noop, elidable=True),
    ]
