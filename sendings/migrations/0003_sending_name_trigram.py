"""A trigram index for the sending list's search by name (PostgreSQL only).

The list page searches names with `name__icontains`, which PostgreSQL runs as
UPPER(name) LIKE UPPER('%...%'): without this index that reads every sending of the
subaccount (~50 ms at 100,000 sendings, see tests/bench/bench_list_page.py). The index is
raw SQL, not in Sending.Meta, because SQLite (the embedded default) has neither GIN nor
pg_trgm; the extension operation is a no-op there too.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEX = "sending_name_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON sendings_sending "
            "USING gin (UPPER(name::text) gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("sendings", "0002_subaccount_send_rate_limit"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
