"""Contacts, lists and CSV imports: every write to them goes through here."""

import contextlib
from datetime import datetime, timedelta

from celery import signature
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from batches.unsubscribing import recipients_cancel_unsubscribed
from sendings.contacts.csv_import import CsvFileError, contacts_csv_parse
from sendings.exceptions import DomainError
from sendings.models import Contact, ContactImport, ContactList, Subaccount
from sendings.results import Changed
from sendings.tenancy.selectors import user_language

CONTACT_IMPORT_CHUNK_SIZE = 5_000
# The import page shows the first errors; invalid_count keeps the full number.
CONTACT_IMPORT_ERRORS_KEPT = 100
# A running import refreshes this cache key with each chunk; without it, its worker died.
CONTACT_IMPORT_ALIVE = "contact-import-alive:"
# A pending import nobody picked up for this long has lost its task: it is queued again.
CONTACT_IMPORT_REQUEUE_AFTER = timedelta(minutes=2)
# Enqueued by name: the task module imports this one.
IMPORT_TASK = "sendings.tasks.contact_import_run_task"


def _import_task_enqueue(contact_import_id: int) -> None:
    signature(IMPORT_TASK, args=(contact_import_id,)).delay()


def _name_taken(name: str) -> DomainError:
    return DomainError(
        _("There is already a list named “%(name)s”.") % {"name": name}, code="name_taken"
    )


def _list_name_refuse_if_taken(*, subaccount_id: int, name: str, exclude_pk=None) -> None:
    taken = ContactList.objects.filter(subaccount_id=subaccount_id, name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise _name_taken(name)


def contact_list_create(*, subaccount: Subaccount, name: str) -> ContactList:
    """A new empty list. Names are unique per subaccount, ignoring case: a taken name raises
    DomainError(code="name_taken"); the database constraint settles two simultaneous creates."""
    name = name.strip()
    _list_name_refuse_if_taken(subaccount_id=subaccount.pk, name=name)
    try:
        with transaction.atomic():
            return ContactList.objects.create(subaccount=subaccount, name=name)
    except IntegrityError:
        raise _name_taken(name) from None


def contact_list_rename(*, contact_list: ContactList, name: str) -> ContactList:
    """Rename a list; same rules as creating one. Renaming to its current name is a no-op."""
    name = name.strip()
    if name == contact_list.name:
        return contact_list
    _list_name_refuse_if_taken(
        subaccount_id=contact_list.subaccount_id, name=name, exclude_pk=contact_list.pk
    )
    try:
        with transaction.atomic():
            ContactList.objects.filter(pk=contact_list.pk).update(name=name)
    except IntegrityError:
        raise _name_taken(name) from None
    contact_list.name = name
    return contact_list


def contact_unsubscribe(*, contact: Contact, actor=None, how: str = "") -> Changed[Contact]:
    """Mark the contact unsubscribed, with effect at once: future sendings leave them out, and
    so do the batches already scheduled or sending (`recipients_cancel_unsubscribed`).

    Idempotent: a second call changes nothing (`changed` False) and `unsubscribed_at` keeps
    the first time (one conditional UPDATE, so two clicks at once cannot both stamp it).
    The contact row is written and committed before any sending is locked, so this never
    holds a contact while waiting for a sending (delivery records lock in the other order).
    `canceled` says how many pending messages to them were canceled.
    """
    changed = Contact.objects.filter(pk=contact.pk, unsubscribed=False).update(
        unsubscribed=True, unsubscribed_at=timezone.now()
    )
    contact.refresh_from_db(fields=["unsubscribed", "unsubscribed_at"])
    canceled = recipients_cancel_unsubscribed(contact_id=contact.pk, actor=actor, how=how)
    return Changed(contact, bool(changed), canceled)


def contact_bounce_clear(*, contact: Contact) -> Changed[Contact]:
    """Clear a contact's bounce, so later sendings include it again (a marketer's call: the
    address was fixed). Unlike an unsubscribe, which only the contact can undo. Idempotent."""
    changed = Contact.objects.filter(pk=contact.pk, bounced_at__isnull=False).update(
        bounced_at=None, bounce_reason=""
    )
    contact.refresh_from_db(fields=["bounced_at", "bounce_reason"])
    return Changed(contact, bool(changed))


def contact_import_create(
    *, contact_list: ContactList, file_name: str, content: bytes, actor
) -> ContactImport:
    """Keep an uploaded CSV and have a worker import it once this transaction commits.

    The caller has checked the size and that the bytes are readable text
    (`sendings.contacts.csv_import.contacts_csv_decode`); rows are checked by the import itself.
    """
    contact_import = ContactImport.objects.create(
        subaccount_id=contact_list.subaccount_id,
        contact_list=contact_list,
        created_by=actor,
        file_name=file_name[:255],
        content=content,
    )
    # robust: if the broker is down the upload is still kept, and its page says it is waiting.
    transaction.on_commit(lambda: _import_task_enqueue(contact_import.pk), robust=True)
    return contact_import


# Plain SQL both PostgreSQL and SQLite (3.24+) run: the ORM's bulk_create spent most of a
# 100,000-row import building model instances and SQL, none of which this needs.
_CONTACTS_UPSERT = """
INSERT INTO sendings_contact (subaccount_id, email, name, unsubscribed, created_at)
SELECT %s, v.column1, v.column2, FALSE, %s FROM (VALUES {values}) AS v WHERE TRUE
ON CONFLICT (subaccount_id, email) DO UPDATE SET name = excluded.name
WHERE excluded.name <> '' AND sendings_contact.name <> excluded.name
"""
_MEMBERSHIPS_INSERT = """
INSERT INTO sendings_listmembership (contact_list_id, contact_id, added_at)
SELECT %s, c.id, %s FROM sendings_contact c WHERE c.subaccount_id = %s AND c.email IN ({emails})
ON CONFLICT (contact_id, contact_list_id) DO NOTHING
"""


def _contacts_merge_chunk(
    *, subaccount_id: int, list_id: int, rows: list[tuple[str, str]]
) -> tuple[int, int]:
    """Create or update one chunk of unique (email, name) contacts and put them all in the list.

    Returns (created, updated). An existing contact gets the file's name when the file has one
    and keeps everything else: an import never resubscribes anybody. Set-based: three
    statements for the whole chunk, whatever its size; a contact created meanwhile (another
    import, the admin) is merged like any existing one.
    """
    emails = [email for email, _ in rows]
    existing = Contact.objects.filter(subaccount_id=subaccount_id, email__in=emails).count()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTACTS_UPSERT.format(values=", ".join(["(%s, %s)"] * len(rows))),
            [subaccount_id, now, *(value for row in rows for value in row)],
        )
        cursor.execute(
            _MEMBERSHIPS_INSERT.format(emails=", ".join(["%s"] * len(emails))),
            [list_id, now, subaccount_id, *emails],
        )
    return len(rows) - existing, existing


def _contact_import_alive(contact_import_id: int) -> None:
    # A cache outage must not fail the import: recovery then cannot see it, nothing worse.
    with contextlib.suppress(RedisError, OSError):
        cache.set(f"{CONTACT_IMPORT_ALIVE}{contact_import_id}", 1, settings.CLAIM_TIMEOUT_SECONDS)


def contact_imports_recover(*, now: datetime | None = None) -> list[int]:
    """Queue again the imports no worker is on; returns their ids.

    A running import whose worker stopped refreshing its heartbeat for CLAIM_TIMEOUT_SECONDS
    (killed mid-import) goes back to pending and resumes after its last committed chunk. A
    pending import older than CONTACT_IMPORT_REQUEUE_AFTER lost its task (a broker outage at
    upload): it is queued again, at most once per that interval, so a busy queue does not fill
    up with copies. Either way the import runs once: the task claims it pending -> running.
    """
    now = now or timezone.now()
    requeued = []
    running = ContactImport.objects.filter(status=ContactImport.Status.RUNNING)
    for contact_import_id in running.values_list("pk", flat=True):
        try:
            alive = cache.get(f"{CONTACT_IMPORT_ALIVE}{contact_import_id}") is not None
        except (RedisError, OSError):
            return requeued  # heartbeats unreadable: a live import would look dead
        if alive:
            continue
        if running.filter(pk=contact_import_id).update(status=ContactImport.Status.PENDING):
            requeued.append(contact_import_id)
    waiting = ContactImport.objects.filter(
        status=ContactImport.Status.PENDING, created_at__lt=now - CONTACT_IMPORT_REQUEUE_AFTER
    ).exclude(pk__in=requeued)
    for contact_import_id in waiting.values_list("pk", flat=True):
        try:
            first = cache.add(
                f"contact-import-requeued:{contact_import_id}",
                1,
                CONTACT_IMPORT_REQUEUE_AFTER.total_seconds(),
            )
        except (RedisError, OSError):
            break  # queued again once the cache (and so the broker) is back
        if first:
            requeued.append(contact_import_id)
    for contact_import_id in requeued:
        transaction.on_commit(lambda pk=contact_import_id: _import_task_enqueue(pk))
    return requeued


def _contact_import_fail(contact_import_id: int, message: str) -> None:
    ContactImport.objects.filter(pk=contact_import_id).update(
        status=ContactImport.Status.FAILED,
        failure=message,
        content=b"",
        finished_at=timezone.now(),
    )


def contact_import_run(*, contact_import_id: int) -> ContactImport | None:
    """Import a pending upload (below), its messages in the language of who uploaded it."""
    uploader = (
        ContactImport.objects.filter(pk=contact_import_id)
        .values_list("created_by_id", flat=True)
        .first()
    )
    with translation.override(user_language(user_id=uploader)):
        return _contact_import_run(contact_import_id=contact_import_id)


def _contact_import_run(*, contact_import_id: int) -> ContactImport | None:
    """Import a pending upload: parse it, then merge its contacts chunk by chunk.

    Runs at most once per import: it starts by moving the row from pending to running with a
    conditional UPDATE, and returns without doing anything if that changed no row (a retried or
    duplicated task). Each chunk of CONTACT_IMPORT_CHUNK_SIZE contacts commits with the progress
    counters, so a page polling the import sees them move, and an import whose worker was
    killed resumes after its last committed chunk (contact_imports_recover queues it again).
    A file that cannot be read fails the import with a message for the user and imports
    nothing; an error halfway keeps the chunks already committed (importing the file again
    merges, it never duplicates). The upload itself is deleted once read.
    """
    claimed = ContactImport.objects.filter(
        pk=contact_import_id, status=ContactImport.Status.PENDING
    ).update(status=ContactImport.Status.RUNNING)
    if not claimed:
        return ContactImport.objects.filter(pk=contact_import_id).first()
    _contact_import_alive(contact_import_id)
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    try:
        parsed = contacts_csv_parse(bytes(contact_import.content))
    except CsvFileError as error:
        _contact_import_fail(contact_import_id, str(error))
        contact_import.refresh_from_db()
        return contact_import
    try:
        # Invalid and repeated rows are done with once the file is read.
        skipped = parsed.invalid_rows + parsed.duplicate_rows
        if contact_import.total_rows:  # resumed: the file was read, some chunks committed
            progress = {
                "total_rows": contact_import.total_rows,
                "processed_rows": contact_import.processed_rows,
                "invalid_count": contact_import.invalid_count,
                "created_count": contact_import.created_count,
                "updated_count": contact_import.updated_count,
            }
        else:
            progress = {
                "total_rows": parsed.total_rows,
                "processed_rows": skipped,
                "invalid_count": parsed.invalid_rows,
                "created_count": 0,
                "updated_count": 0,
            }
            ContactImport.objects.filter(pk=contact_import_id).update(
                errors=[
                    {"line": error.line, "reason": error.reason}
                    for error in parsed.errors[:CONTACT_IMPORT_ERRORS_KEPT]
                ],
                **progress,
            )
        # Contacts keep the file's order, so the committed chunks are a prefix of them.
        rows = list(parsed.contacts.items())[progress["processed_rows"] - skipped :]
        for start in range(0, len(rows), CONTACT_IMPORT_CHUNK_SIZE):
            chunk = rows[start : start + CONTACT_IMPORT_CHUNK_SIZE]
            with transaction.atomic():
                created, updated = _contacts_merge_chunk(
                    subaccount_id=contact_import.subaccount_id,
                    list_id=contact_import.contact_list_id,
                    rows=chunk,
                )
                progress["created_count"] += created
                progress["updated_count"] += updated
                progress["processed_rows"] += len(chunk)
                ContactImport.objects.filter(pk=contact_import_id).update(**progress)
            _contact_import_alive(contact_import_id)
    except Exception:
        _contact_import_fail(
            contact_import_id,
            _(
                "The import stopped because of an unexpected error. Contacts counted above "
                "were imported; importing the same file again completes it without duplicates."
            ),
        )
        raise
    ContactImport.objects.filter(pk=contact_import_id).update(
        status=ContactImport.Status.DONE, content=b"", finished_at=timezone.now()
    )
    contact_import.refresh_from_db()
    return contact_import
