"""Sending-level state changes. Every write to a sending goes through here or batches.services."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from batches.models import Batch, BatchStatus, Recipient, RecipientStatus
from batches.services import batch_close_locked
from sendings.csv_import import CsvFileError, contacts_csv_parse
from sendings.exceptions import DomainError
from sendings.models import (
    Contact,
    ContactImport,
    ContactList,
    ListMembership,
    Sending,
    SendingEvent,
    SendingStatus,
    Subaccount,
)
from sendings.transitions import (
    event_record,
    refuse_if_small,
    sending_lock,
    sending_status_refresh,
)

MAX_BATCHES = 100
SNAPSHOT_CHUNK = 25_000


@dataclass(frozen=True)
class BatchPlan:
    """When one batch goes out and to how many contacts (None: everyone left; last batch only)."""

    scheduled_at: datetime
    recipient_count: int | None = None


def _plans_check(plans: Sequence[BatchPlan]) -> None:
    if not plans:
        raise DomainError("Choose when to send: at least one batch is needed.", code="no_batches")
    if len(plans) > MAX_BATCHES:
        raise DomainError(f"A sending can have at most {MAX_BATCHES} batches.", code="too_many")
    for number, plan in enumerate(plans, start=1):
        if timezone.is_naive(plan.scheduled_at):
            raise DomainError(f"Batch {number} needs a time with a time zone.", code="naive_time")
        if plan.recipient_count is None and number != len(plans):
            raise DomainError(
                f"Batch {number} needs a number of contacts; only the last batch may take "
                "everyone left.",
                code="count_missing",
            )
        if plan.recipient_count is not None and plan.recipient_count < 1:
            raise DomainError(f"Batch {number} needs at least one contact.", code="count_low")
        if number > 1 and plan.scheduled_at <= plans[number - 2].scheduled_at:
            raise DomainError(
                f"Batch {number} must go out after batch {number - 1}.", code="out_of_order"
            )


def _content_check(sending: Sending) -> None:
    missing = [
        label
        for label, value in (
            ("a name", sending.name),
            ("a subject", sending.subject),
            ("a sender address", sending.from_email),
            ("a message body", sending.html_body or sending.text_body),
        )
        if not value.strip()
    ]
    if missing:
        raise DomainError(
            "The sending cannot be scheduled yet: it needs " + ", ".join(missing) + ".",
            code="incomplete",
        )


def _audience_snapshot(*, sending: Sending, list_ids: list[int], batches: list[Batch]) -> int:
    """Copy the audience into Recipient rows, assigning each to its batch. Returns the total.

    Runs as INSERT ... SELECT in chunks of SNAPSHOT_CHUNK contacts, walking contact ids in
    order: the audience never passes through Python, and each statement stays bounded.
    Contacts are unique per subaccount by email, so no contact is counted twice even when it
    is on several of the chosen lists; unsubscribed contacts are left out.
    """
    qn = connection.ops.quote_name
    contact_table = qn(Contact._meta.db_table)
    membership_table = qn(ListMembership._meta.db_table)
    recipient_table = qn(Recipient._meta.db_table)
    list_marks = ", ".join(["%s"] * len(list_ids))
    # Batch i takes the positions up to the running total of the planned sizes; the last
    # batch takes everyone left (sizes are checked against the total afterwards).
    case_parts, case_params, running = [], [], 0
    for batch in batches[:-1]:
        running += batch.recipient_count
        case_parts.append("WHEN position <= %s THEN %s")
        case_params += [running, batch.pk]
    batch_case = (
        "CASE " + " ".join(case_parts) + " ELSE %s END" if case_parts else "%s"
    )  # fmt: skip
    case_params.append(batches[-1].pk)
    sql = f"""
        WITH chunk AS (
            SELECT c.id, c.email, c.name FROM {contact_table} c
            WHERE c.subaccount_id = %s AND c.unsubscribed = %s AND c.id > %s
              AND EXISTS (
                SELECT 1 FROM {membership_table} m
                WHERE m.contact_id = c.id AND m.contact_list_id IN ({list_marks})
              )
            ORDER BY c.id
            LIMIT %s
        ), numbered AS (
            SELECT id, email, name, ROW_NUMBER() OVER (ORDER BY id) + %s AS position FROM chunk
        )
        INSERT INTO {recipient_table}
            (sending_id, batch_id, contact_id, email, name, status, attempts, last_error)
        SELECT %s, {batch_case}, id, email, name, %s, 0, ''
        FROM numbered
        RETURNING contact_id
    """
    total, last_contact_id = 0, 0
    with connection.cursor() as cursor:
        while True:
            params = [
                sending.subaccount_id,
                False,
                last_contact_id,
                *list_ids,
                SNAPSHOT_CHUNK,
                total,
                sending.pk,
                *case_params,
                RecipientStatus.PENDING.value,
            ]
            cursor.execute(sql, params)
            inserted = [row[0] for row in cursor.fetchall()]
            if not inserted:
                return total
            total += len(inserted)
            last_contact_id = max(inserted)
            if len(inserted) < SNAPSHOT_CHUNK:
                return total


def sending_confirm(*, sending: Sending, batches: Sequence[BatchPlan], actor) -> Sending:
    """Confirm a draft: snapshot its audience and split it into the planned batches.

    The audience is the contacts of the sending's lists, minus unsubscribed ones, each once.
    Sizes given for the batches must add up to the audience (the last batch may take "the
    rest"). Everything happens in one transaction under the sending's row lock, so a bad plan
    leaves the draft untouched. Confirming a sending that is already confirmed is a no-op.
    """
    plans = list(batches)
    _plans_check(plans)
    with transaction.atomic():
        sending, _batches = sending_lock(sending.pk)
        if sending.status != SendingStatus.DRAFT:
            return sending
        _content_check(sending)
        lists = list(sending.lists.all())
        if not lists:
            raise DomainError("Choose at least one contact list.", code="no_lists")
        foreign = [lst.name for lst in lists if lst.subaccount_id != sending.subaccount_id]
        if foreign:
            raise DomainError(
                "These lists belong to another subaccount: " + ", ".join(foreign) + ".",
                code="foreign_list",
            )
        created = Batch.objects.bulk_create(
            Batch(
                sending=sending,
                number=number,
                scheduled_at=plan.scheduled_at,
                recipient_count=plan.recipient_count or 0,
            )
            for number, plan in enumerate(plans, start=1)
        )
        if connection.vendor == "sqlite" or any(b.pk is None for b in created):
            created = list(Batch.objects.filter(sending=sending).order_by("number"))
        total = _audience_snapshot(
            sending=sending, list_ids=[lst.pk for lst in lists], batches=created
        )
        if total == 0:
            raise DomainError(
                "Nobody to send to: the chosen lists are empty or every contact in them has "
                "unsubscribed.",
                code="empty_audience",
            )
        if len(plans) > total:
            raise DomainError(
                f"{len(plans)} batches for {total} contacts: every batch needs at least one "
                "contact.",
                code="too_many",
            )
        planned = sum(p.recipient_count for p in plans[:-1])
        last_planned = plans[-1].recipient_count
        if planned >= total or (last_planned is not None and planned + last_planned != total):
            wanted = planned + (last_planned or 0)
            raise DomainError(
                f"The batches add up to {wanted} contacts but the audience has {total}. "
                "Adjust the batch sizes so they add up exactly.",
                code="counts_mismatch",
            )
        created[-1].recipient_count = total - planned
        Batch.objects.bulk_update(created, ["recipient_count"])
        now = timezone.now()
        sending.status = SendingStatus.SCHEDULED
        sending.total_recipients = total
        sending.batch_count = len(created)
        sending.scheduled_at = created[0].scheduled_at
        sending.confirmed_at = now
        sending.save(
            update_fields=[
                "status",
                "total_recipients",
                "batch_count",
                "scheduled_at",
                "confirmed_at",
            ]
        )
        sending_status_refresh(sending=sending, batches=created, now=now)
        when = "in one go" if len(created) == 1 else f"in {len(created)} batches"
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.CONFIRMED,
            actor=actor,
            message=f"Scheduled for {total} contacts {when}.",
        )
        if total >= ANALYZE_AFTER and connection.vendor == "postgresql":
            transaction.on_commit(_recipients_analyze)
    return sending


# A snapshot this large changes the recipients table's statistics enough to matter: until
# they are refreshed, PostgreSQL believes the new batches are empty and plans each delivery
# record as a scan of the whole batch (measured: 8 ms instead of 1 ms per record of 50).
# Autovacuum would get there, but only after 10% of the table changed.
ANALYZE_AFTER = 10_000


def _recipients_analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Recipient._meta.db_table}")


def _refusal(sending: Sending, action: str) -> DomainError:
    if sending.status == SendingStatus.SENDING:
        return DomainError(
            f"“{sending.name}” is being sent right now, so it can no longer be {action} here. "
            "Request an urgent cancellation from support.",
            code="in_progress",
        )
    if sending.status == SendingStatus.SENT:
        return DomainError(
            f"“{sending.name}” has already been sent; there is nothing left to cancel.",
            code="already_sent",
        )
    return DomainError(
        f"“{sending.name}” is a draft that was never scheduled; there is nothing to cancel.",
        code="draft",
    )


def sending_cancel(*, sending: Sending, actor) -> Sending:
    """Cancel a Scheduled sending (help page, scenario 1): every still-scheduled batch.

    Batches already sent stay sent. Locks the sending, then its batches. Canceling a canceled
    sending is a no-op; a sending in progress, sent, or still a draft is refused.
    """
    with transaction.atomic():
        sending, batches = sending_lock(sending.pk)
        if sending.status == SendingStatus.CANCELED:
            return sending
        if not sending.can_cancel:
            raise _refusal(sending, "canceled")
        now = timezone.now()
        numbers, canceled = [], 0
        for batch in batches:
            if batch.status == BatchStatus.SCHEDULED:
                canceled += batch_close_locked(sending=sending, batch=batch, actor=actor, now=now)
                numbers.append(str(batch.number))
        sending_status_refresh(sending=sending, batches=batches, now=now, actor=actor)
        scope = "" if len(batches) == 1 else f" (batches {', '.join(numbers)})"
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.CANCELED,
            actor=actor,
            message=f"Canceled{scope}; {canceled} contacts will not receive it.",
        )
    return sending


def sending_stop(*, sending: Sending, actor, note: str = "") -> Sending:
    """Stop a sending in progress (support, help page scenario 3), between batches included.

    The batch being sent and every later batch become canceled; recipients not yet handed to
    SMTP are canceled; those who already received it stay sent. Locks the sending, then its
    batches. Stopping a canceled sending is a no-op; a sent or draft sending is refused, and so
    is a small one (under SMALL_SENDING_MAX_RECIPIENTS): the help page says those cannot be
    stopped.
    """
    with transaction.atomic():
        sending, batches = sending_lock(sending.pk)
        if sending.status == SendingStatus.CANCELED:
            return sending
        if not sending.can_stop:
            raise _refusal(sending, "stopped")
        refuse_if_small(sending)
        now = timezone.now()
        canceled = 0
        for batch in batches:
            if batch.status in (BatchStatus.SCHEDULED, BatchStatus.SENDING):
                canceled += batch_close_locked(sending=sending, batch=batch, actor=actor, now=now)
        sending_status_refresh(sending=sending, batches=batches, now=now, actor=actor)
        message = f"Stopped; {canceled} contacts will not receive it."
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.STOPPED,
            actor=actor,
            message=f"{message} {note}".strip(),
        )
    return sending


# --- Drafts: the "New sending" wizard (sendings/wizard_views.py) ---------------------------------

# What a draft's owner may change; status, counters and schedule move only through the
# lifecycle services above.
DRAFT_FIELDS = frozenset(
    {"name", "subject", "from_name", "from_email", "html_body", "text_body", "schedule_draft"}
)
MAX_TEST_ADDRESSES = 5
TEST_SUBJECT_PREFIX = "[Test] "


def _draft_fields_check(fields: Mapping[str, object]) -> None:
    unknown = set(fields) - DRAFT_FIELDS
    if unknown:
        raise ValueError(f"Not a draft field: {', '.join(sorted(unknown))}")


def _lists_check(*, subaccount_id: int, lists: Sequence[ContactList]) -> None:
    foreign = [lst.name for lst in lists if lst.subaccount_id != subaccount_id]
    if foreign:
        raise DomainError(
            "These lists belong to another subaccount: " + ", ".join(foreign) + ".",
            code="foreign_list",
        )


def sending_draft_create(
    *,
    subaccount: Subaccount,
    actor,
    fields: Mapping[str, object],
    lists: Sequence[ContactList] = (),
) -> Sending:
    """Create a Draft in `subaccount` with `fields` (DRAFT_FIELDS) and `lists`.

    Lists of another subaccount are refused (code `foreign_list`); row and lists are written
    in one transaction, so a refused draft leaves nothing behind.
    """
    _draft_fields_check(fields)
    lists = list(lists)
    _lists_check(subaccount_id=subaccount.pk, lists=lists)
    with transaction.atomic():
        sending = Sending.objects.create(
            subaccount=subaccount, created_by=actor, status=SendingStatus.DRAFT, **fields
        )
        if lists:
            sending.lists.set(lists)
    return sending


def sending_draft_update(
    *,
    sending: Sending,
    fields: Mapping[str, object],
    lists: Sequence[ContactList] | None = None,
) -> Sending:
    """Change a Draft's content: only `fields` (DRAFT_FIELDS) are written, and `lists` (when
    given) replaces its lists.

    Locks the sending row first (the lock order of sendings.transitions) and refuses, with
    code `not_draft`, a sending that is no longer a Draft: a confirm that won the lock has
    snapshotted its audience, and its content must not change under its recipients. All or
    nothing: lists of another subaccount (code `foreign_list`) leave the draft untouched.
    """
    _draft_fields_check(fields)
    with transaction.atomic():
        sending, _batches = sending_lock(sending.pk)
        if sending.status != SendingStatus.DRAFT:
            raise DomainError(
                f"“{sending.name}” is {sending.get_status_display().lower()}, no longer a draft: "
                "its content can no longer change.",
                code="not_draft",
            )
        for name, value in fields.items():
            setattr(sending, name, value)
        if fields:
            sending.save(update_fields=sorted(fields))
        if lists is not None:
            lists = list(lists)
            _lists_check(subaccount_id=sending.subaccount_id, lists=lists)
            sending.lists.set(lists)
    return sending


def sending_draft_confirm(
    *,
    sending: Sending,
    schedule_draft: dict,
    batches: Sequence[BatchPlan],
    actor,
) -> Sending:
    """The wizard's last step: keep the schedule choices on the draft and confirm it.

    One transaction: when `sending_confirm` refuses (a DomainError), the draft is left exactly
    as it was, its saved schedule choices included.
    """
    with transaction.atomic():
        sending_draft_update(sending=sending, fields={"schedule_draft": schedule_draft})
        return sending_confirm(sending=sending, batches=batches, actor=actor)


def sending_duplicate(*, sending: Sending, actor) -> Sending:
    """A new Draft copying `sending`'s content and lists, named "Copy of …".

    Works for a sending in any status; schedule, batches, recipients and counters are not
    copied. Only lists of the sending's own subaccount are carried over.
    """
    name = f"Copy of {sending.name}"[: Sending._meta.get_field("name").max_length]
    lists = list(sending.lists.filter(subaccount_id=sending.subaccount_id))
    return sending_draft_create(
        subaccount=sending.subaccount,
        actor=actor,
        fields={
            "name": name,
            "subject": sending.subject,
            "from_name": sending.from_name,
            "from_email": sending.from_email,
            "html_body": sending.html_body,
            "text_body": sending.text_body,
        },
        lists=lists,
    )


def sending_send_test(*, sending: Sending, addresses: Sequence[str], actor) -> int:
    """Email the sending as it stands to up to MAX_TEST_ADDRESSES addresses; returns how many.

    Built by the delivery's own `message_build`, so personalization and headers are those of
    real delivery; the subject starts with "[Test] ". The name put in `{{ name }}` is the
    contact's when the address is a contact of the subaccount, else the address's local part.
    Changes nothing in the database (no status, no counters) and sends outside any transaction.
    """
    from django.core.mail import mailers

    from batches.delivery import Content, message_build
    from batches.services import Claim

    addresses = list(dict.fromkeys(a.strip().lower() for a in addresses if a.strip()))
    if not addresses:
        raise DomainError("Give at least one address to send the test to.", code="no_addresses")
    if len(addresses) > MAX_TEST_ADDRESSES:
        raise DomainError(
            f"A test goes to at most {MAX_TEST_ADDRESSES} addresses.", code="too_many_addresses"
        )
    if not (sending.html_body.strip() or sending.text_body.strip()):
        raise DomainError("There is no message to test yet: write it first.", code="no_body")
    names = dict(
        Contact.objects.filter(subaccount_id=sending.subaccount_id, email__in=addresses)
        .values_list("email", "name")
    )  # fmt: skip
    content = Content.of(sending)
    messages = []
    for address in addresses:
        claim = Claim(id=0, email=address, name=names.get(address, address.split("@")[0]))
        message = message_build(content, claim)
        message.subject = TEST_SUBJECT_PREFIX + message.subject
        messages.append(message)
    return mailers.default.send_messages(messages) or 0


# --- Contacts, lists and CSV imports (issue 6) -------------------------------------------------

CONTACT_IMPORT_CHUNK_SIZE = 5_000
# The import page shows the first errors; invalid_count keeps the full number.
CONTACT_IMPORT_ERRORS_KEPT = 100
# A running import refreshes this cache key with each chunk; without it, its worker died.
CONTACT_IMPORT_ALIVE = "contact-import-alive:"
# A pending import nobody picked up for this long has lost its task: it is queued again.
CONTACT_IMPORT_REQUEUE_AFTER = timedelta(minutes=2)


def _list_name_refuse_if_taken(*, subaccount_id: int, name: str, exclude_pk=None) -> None:
    taken = ContactList.objects.filter(subaccount_id=subaccount_id, name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise DomainError(f"There is already a list named “{name}”.", code="name_taken")


def contact_list_create(*, subaccount: Subaccount, name: str) -> ContactList:
    """A new empty list. Names are unique per subaccount, ignoring case: a taken name raises
    DomainError(code="name_taken"); the database constraint settles two simultaneous creates."""
    name = name.strip()
    _list_name_refuse_if_taken(subaccount_id=subaccount.pk, name=name)
    try:
        with transaction.atomic():
            return ContactList.objects.create(subaccount=subaccount, name=name)
    except IntegrityError:
        raise DomainError(f"There is already a list named “{name}”.", code="name_taken") from None


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
        raise DomainError(f"There is already a list named “{name}”.", code="name_taken") from None
    contact_list.name = name
    return contact_list


def contact_unsubscribe(*, contact: Contact) -> Contact:
    """Mark the contact unsubscribed: future sendings leave them out.

    Idempotent: a second call changes nothing and `unsubscribed_at` keeps the first time (one
    conditional UPDATE, so two clicks at once cannot both stamp it).
    """
    Contact.objects.filter(pk=contact.pk, unsubscribed=False).update(
        unsubscribed=True, unsubscribed_at=timezone.now()
    )
    contact.refresh_from_db(fields=["unsubscribed", "unsubscribed_at"])
    return contact


def contact_import_create(
    *, contact_list: ContactList, file_name: str, content: bytes, actor
) -> ContactImport:
    """Keep an uploaded CSV and have a worker import it once this transaction commits.

    The caller has checked the size and that the bytes are readable text
    (`sendings.csv_import.contacts_csv_decode`); rows are checked by the import itself.
    """
    from sendings.tasks import contact_import_run_task  # tasks import this module

    contact_import = ContactImport.objects.create(
        subaccount_id=contact_list.subaccount_id,
        contact_list=contact_list,
        created_by=actor,
        file_name=file_name[:255],
        content=content,
    )
    # robust: if the broker is down the upload is still kept, and its page says it is waiting.
    transaction.on_commit(lambda: contact_import_run_task.delay(contact_import.pk), robust=True)
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
    cache.set(f"{CONTACT_IMPORT_ALIVE}{contact_import_id}", 1, settings.CLAIM_TIMEOUT_SECONDS)


def contact_imports_recover(*, now: datetime | None = None) -> list[int]:
    """Queue again the imports no worker is on; returns their ids.

    A running import whose worker stopped refreshing its heartbeat for CLAIM_TIMEOUT_SECONDS
    (killed mid-import) goes back to pending and resumes after its last committed chunk. A
    pending import older than CONTACT_IMPORT_REQUEUE_AFTER lost its task (a broker outage at
    upload): it is queued again, at most once per that interval, so a busy queue does not fill
    up with copies. Either way the import runs once: the task claims it pending -> running.
    """
    from sendings.tasks import contact_import_run_task  # tasks import this module

    now = now or timezone.now()
    requeued = []
    running = ContactImport.objects.filter(status=ContactImport.Status.RUNNING)
    for contact_import_id in running.values_list("pk", flat=True):
        if cache.get(f"{CONTACT_IMPORT_ALIVE}{contact_import_id}") is not None:
            continue
        if running.filter(pk=contact_import_id).update(status=ContactImport.Status.PENDING):
            requeued.append(contact_import_id)
    waiting = ContactImport.objects.filter(
        status=ContactImport.Status.PENDING, created_at__lt=now - CONTACT_IMPORT_REQUEUE_AFTER
    ).exclude(pk__in=requeued)
    for contact_import_id in waiting.values_list("pk", flat=True):
        if cache.add(
            f"contact-import-requeued:{contact_import_id}",
            1,
            CONTACT_IMPORT_REQUEUE_AFTER.total_seconds(),
        ):
            requeued.append(contact_import_id)
    for contact_import_id in requeued:
        transaction.on_commit(lambda pk=contact_import_id: contact_import_run_task.delay(pk))
    return requeued


def _contact_import_fail(contact_import_id: int, message: str) -> None:
    ContactImport.objects.filter(pk=contact_import_id).update(
        status=ContactImport.Status.FAILED,
        failure=message,
        content=b"",
        finished_at=timezone.now(),
    )


def contact_import_run(*, contact_import_id: int) -> ContactImport | None:
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
            "The import stopped because of an unexpected error. Contacts counted above were "
            "imported; importing the same file again completes it without duplicates.",
        )
        raise
    ContactImport.objects.filter(pk=contact_import_id).update(
        status=ContactImport.Status.DONE, content=b"", finished_at=timezone.now()
    )
    contact_import.refresh_from_db()
    return contact_import
