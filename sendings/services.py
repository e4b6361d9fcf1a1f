"""Sending lifecycle: confirm a draft, cancel a scheduled sending, stop one in progress.

Every write to a sending's status goes through here or batches.services, under the row
locks of sendings.transitions (the sending, then its batches by number).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from batches.models import Batch, Recipient, RecipientStatus
from batches.services import batches_close
from sendings.exceptions import DomainError
from sendings.models import (
    Contact,
    ListMembership,
    Sending,
    SendingEvent,
    SendingStatus,
)
from sendings.results import Changed
from sendings.transitions import (
    event_record,
    lists_refuse_foreign,
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
    missing = [item.needs for item in sending.missing_for_confirm() if item.field != "lists"]
    if missing:
        raise DomainError(
            "The sending cannot be scheduled yet: it needs " + ", ".join(missing) + ".",
            code="incomplete",
        )


def _batch_case(batches: list[Batch]) -> tuple[str, list]:
    """SQL assigning a row's `position` to its batch: batch i takes the positions up to the
    running total of the planned sizes; the last batch takes everyone left (sizes are
    checked against the total afterwards)."""
    case_parts, case_params, running = [], [], 0
    for batch in batches[:-1]:
        running += batch.recipient_count
        case_parts.append("WHEN position <= %s THEN %s")
        case_params += [running, batch.pk]
    batch_case = (
        "CASE " + " ".join(case_parts) + " ELSE %s END" if case_parts else "%s"
    )  # fmt: skip
    case_params.append(batches[-1].pk)
    return batch_case, case_params


def _audience_snapshot(*, sending: Sending, list_ids: list[int], batches: list[Batch]) -> int:
    """Copy the audience into Recipient rows, assigning each to its batch. Returns the total.

    Runs as INSERT ... SELECT in chunks of SNAPSHOT_CHUNK contacts, walking contact ids in
    order: the audience never passes through Python, and each statement stays bounded.
    Contacts are unique per subaccount by email, so no contact is counted twice even when it
    is on several of the chosen lists; unsubscribed and bounced contacts are left out.
    """
    qn = connection.ops.quote_name
    contact_table = qn(Contact._meta.db_table)
    membership_table = qn(ListMembership._meta.db_table)
    recipient_table = qn(Recipient._meta.db_table)
    list_marks = ", ".join(["%s"] * len(list_ids))
    batch_case, case_params = _batch_case(batches)
    sql = f"""
        WITH chunk AS (
            SELECT c.id, c.email, c.name FROM {contact_table} c
            WHERE c.subaccount_id = %s AND c.unsubscribed = %s AND c.id > %s
              AND c.bounced_at IS NULL
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


def _fixed_audience_snapshot(*, sending: Sending, batches: list[Batch]) -> int:
    """The snapshot of a resend or a correction: its source's recipients in the statuses its
    fixed audience takes (`Sending.source_recipient_statuses`), minus contacts unsubscribed,
    bounced or deleted since (a resend must not try an address that bounced). Returns the total.

    INSERT ... SELECT in chunks of SNAPSHOT_CHUNK, walking the source's recipients by email
    (unique per sending, so the walk is exact and served by its index): nothing passes
    through Python.
    """
    qn = connection.ops.quote_name
    contact_table = qn(Contact._meta.db_table)
    recipient_table = qn(Recipient._meta.db_table)
    statuses = list(sending.source_recipient_statuses)
    status_marks = ", ".join(["%s"] * len(statuses))
    batch_case, case_params = _batch_case(batches)
    sql = f"""
        WITH chunk AS (
            SELECT r.contact_id, r.email, c.name FROM {recipient_table} r
            JOIN {contact_table} c ON c.id = r.contact_id
            WHERE r.sending_id = %s AND r.status IN ({status_marks}) AND r.email > %s
              AND c.subaccount_id = %s AND c.unsubscribed = %s AND c.bounced_at IS NULL
            ORDER BY r.email
            LIMIT %s
        ), numbered AS (
            SELECT contact_id, email, name,
                   ROW_NUMBER() OVER (ORDER BY email) + %s AS position FROM chunk
        )
        INSERT INTO {recipient_table}
            (sending_id, batch_id, contact_id, email, name, status, attempts, last_error)
        SELECT %s, {batch_case}, contact_id, email, name, %s, 0, ''
        FROM numbered
        RETURNING email
    """
    total, last_email = 0, ""
    with connection.cursor() as cursor:
        while True:
            params = [
                sending.source_sending_id,
                *statuses,
                last_email,
                sending.subaccount_id,
                False,
                SNAPSHOT_CHUNK,
                total,
                sending.pk,
                *case_params,
                RecipientStatus.PENDING.value,
            ]
            cursor.execute(sql, params)
            inserted = [row[0] for row in cursor.fetchall()]
            total += len(inserted)
            if len(inserted) < SNAPSHOT_CHUNK:
                return total
            last_email = max(inserted)


def sending_confirm(*, sending: Sending, batches: Sequence[BatchPlan], actor) -> Sending:
    """Confirm a draft: snapshot its audience and split it into the planned batches.

    The audience is the contacts of the sending's lists, minus unsubscribed and bounced ones,
    each once; for a resend or a correction, the fixed set of its source's recipients instead.
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
        lists = [] if sending.source_audience else list(sending.lists.all())
        if not lists and not sending.source_audience:
            raise DomainError("Choose at least one contact list.", code="no_lists")
        lists_refuse_foreign(subaccount_id=sending.subaccount_id, lists=lists)
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
        if sending.source_audience:
            total = _fixed_audience_snapshot(sending=sending, batches=created)
        else:
            total = _audience_snapshot(
                sending=sending, list_ids=[lst.pk for lst in lists], batches=created
            )
        if total == 0:
            raise DomainError(
                "Nobody to send to: every contact of this audience has unsubscribed since."
                if sending.source_audience
                else "Nobody to send to: the chosen lists are empty or every contact in them "
                "has unsubscribed or bounced.",
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
    if sending.status == SendingStatus.PAUSED:
        return DomainError(
            f"“{sending.name}” was paused because too many of its messages failed. Support "
            f"is looking at it and will resume or stop it, so it can't be {action} here.",
            code="paused",
        )
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


def sending_cancel(*, sending: Sending, actor) -> Changed[Sending]:
    """Cancel a Scheduled sending: every still-scheduled batch. Nobody else receives it.

    Batches already sent stay sent. Locks the sending, then its batches. Canceling a canceled
    sending is a no-op (`changed` False); a sending in progress, sent, or still a draft is
    refused with a DomainError.
    """

    def pick(locked: Sending, batches: list[Batch]) -> list[Batch]:
        if locked.status == SendingStatus.CANCELED:
            return []
        if not locked.can_cancel:
            raise _refusal(locked, "canceled")
        return [batch for batch in batches if batch.can_cancel]

    def describe(batches: list[Batch], closed: list[Batch], canceled: int) -> str:
        numbers = ", ".join(str(batch.number) for batch in closed)
        scope = "" if len(batches) == 1 else f" (batches {numbers})"
        return f"Canceled{scope}; {canceled} contacts will not receive it."

    closed = batches_close(
        sending_id=sending.pk,
        actor=actor,
        pick=pick,
        kind=SendingEvent.Kind.CANCELED,
        describe=describe,
    )
    return Changed(closed.sending, closed.changed, closed.canceled)


def sending_stop(*, sending: Sending, actor, note: str = "") -> Changed[Sending]:
    """Stop a sending in progress (support), between batches included.

    The batch being sent and every later batch become canceled; recipients not yet handed to
    SMTP are canceled; those who already received it stay sent. Locks the sending, then its
    batches. Stopping a canceled sending is a no-op (`changed` False); a sent or draft sending
    is refused, and so is a small one (under SMALL_SENDING_MAX_RECIPIENTS): the help page says
    those cannot be stopped.
    """

    def pick(locked: Sending, batches: list[Batch]) -> list[Batch]:
        if locked.status == SendingStatus.CANCELED:
            return []
        if not locked.can_stop:
            raise _refusal(locked, "stopped")
        refuse_if_small(locked)
        return [batch for batch in batches if not batch.is_finished]

    closed = batches_close(
        sending_id=sending.pk,
        actor=actor,
        pick=pick,
        kind=SendingEvent.Kind.STOPPED,
        describe=lambda batches, closed, canceled: (
            f"Stopped; {canceled} contacts will not receive it. {note}".strip()
        ),
    )
    return Changed(closed.sending, closed.changed, closed.canceled)
