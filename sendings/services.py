"""Sending lifecycle: confirm a draft, cancel a scheduled sending, stop one in progress.

Every write to a sending's status goes through here or batches.services, under the row
locks of sendings.transitions (the sending, then its batches by number).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from batches.models import Batch, Recipient, RecipientStatus
from batches.services import batches_close, recipients_cancel_catch_up
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
        raise DomainError(
            _("Choose when to send: at least one batch is needed."), code="no_batches"
        )
    if len(plans) > MAX_BATCHES:
        raise DomainError(
            _("A sending can have at most %(count)s batches.") % {"count": MAX_BATCHES},
            code="too_many",
        )
    for number, plan in enumerate(plans, start=1):
        if timezone.is_naive(plan.scheduled_at):
            raise DomainError(
                _("Batch %(number)s needs a time with a time zone.") % {"number": number},
                code="naive_time",
            )
        if plan.recipient_count is None and number != len(plans):
            raise DomainError(
                _(
                    "Batch %(number)s needs a number of contacts; only the last batch may take "
                    "everyone left."
                )
                % {"number": number},
                code="count_missing",
            )
        if plan.recipient_count is not None and plan.recipient_count < 1:
            raise DomainError(
                _("Batch %(number)s needs at least one contact.") % {"number": number},
                code="count_low",
            )
        if number > 1 and plan.scheduled_at <= plans[number - 2].scheduled_at:
            raise DomainError(
                _("Batch %(number)s must go out after batch %(previous)s.")
                % {"number": number, "previous": number - 1},
                code="out_of_order",
            )


def _content_check(sending: Sending) -> None:
    missing = [str(item.needs) for item in sending.missing_for_confirm() if item.field != "lists"]
    if missing:
        raise DomainError(
            _("The sending cannot be scheduled yet: it needs %(missing)s.")
            % {"missing": ", ".join(missing)},
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


def _source_catch_up(*, sending: Sending) -> None:
    """The source's stopped batches catch up (the deferred cancel) before its rows are
    copied, so their statuses are what they count as: a resend of a stopped sending takes
    the recipients the stop canceled."""
    stopped = Batch.objects.filter(sending_id=sending.source_sending_id, rows_catching_up=True)
    for batch_id in stopped.values_list("pk", flat=True):
        recipients_cancel_catch_up(batch_id=batch_id)


def _fixed_audience_snapshot(*, sending: Sending, batches: list[Batch]) -> int:
    """The snapshot of a resend or a correction: its source's recipients in the statuses its
    fixed audience takes (`Sending.source_recipient_statuses`), minus contacts unsubscribed,
    bounced or deleted since (a resend must not try an address that bounced). Returns the total.

    INSERT ... SELECT in chunks of SNAPSHOT_CHUNK, walking the source's recipients by email
    (unique per sending, so the walk is exact and served by its index): nothing passes
    through Python. The source's rows have caught up (`_source_catch_up`).
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
            inserted = len(cursor.fetchall())
            total += inserted
            if inserted < SNAPSHOT_CHUNK:
                return total
            # The last email in the database's collation, which the next chunk's `>` uses
            # (Python's max() orders by code point: under en_US, "a.b" and "ab" disagree).
            cursor.execute(
                f"SELECT MAX(email) FROM {recipient_table} WHERE sending_id = %s", [sending.pk]
            )
            last_email = cursor.fetchone()[0]


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
            raise DomainError(_("Choose at least one contact list."), code="no_lists")
        lists_refuse_foreign(subaccount_id=sending.subaccount_id, lists=lists)
        if sending.source_audience:
            _source_catch_up(sending=sending)
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
            source = Sending.objects.select_related("subaccount").get(pk=sending.source_sending_id)
            if source.recipients_purged:  # its list went while this draft waited
                raise DomainError(source.purged_refusal(draft=True), code="purged")
            total = _fixed_audience_snapshot(sending=sending, batches=created)
        else:
            total = _audience_snapshot(
                sending=sending, list_ids=[lst.pk for lst in lists], batches=created
            )
        if total == 0:
            raise DomainError(
                _("Nobody to send to: every contact of this audience has unsubscribed since.")
                if sending.source_audience
                else _(
                    "Nobody to send to: the chosen lists are empty or every contact in them "
                    "has unsubscribed or bounced."
                ),
                code="empty_audience",
            )
        if len(plans) > total:
            raise DomainError(
                _(
                    "%(batches)s batches for %(total)s contacts: every batch needs at least "
                    "one contact."
                )
                % {"batches": len(plans), "total": total},
                code="too_many",
            )
        planned = sum(p.recipient_count for p in plans[:-1])
        last_planned = plans[-1].recipient_count
        if planned >= total or (last_planned is not None and planned + last_planned != total):
            wanted = planned + (last_planned or 0)
            raise DomainError(
                _(
                    "The batches add up to %(wanted)s contacts but the audience has "
                    "%(total)s. Adjust the batch sizes so they add up exactly."
                )
                % {"wanted": wanted, "total": total},
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
        message = (
            ngettext(
                "Scheduled for %(total)s contact in one go.",
                "Scheduled for %(total)s contacts in one go.",
                total,
            )
            if len(created) == 1
            else ngettext(
                "Scheduled for %(total)s contact in %(batches)s batches.",
                "Scheduled for %(total)s contacts in %(batches)s batches.",
                total,
            )
        ) % {"total": total, "batches": len(created)}
        event_record(
            sending=sending, kind=SendingEvent.Kind.CONFIRMED, actor=actor, message=message
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
    """Why `sending` cannot be canceled or stopped (`action`: "canceled" or "stopped")."""
    name = {"name": sending.name}
    if sending.status == SendingStatus.PAUSED:
        text = (
            _(
                "“%(name)s” was paused because too many of its messages failed. Support is "
                "looking at it and will resume or stop it, so it can't be stopped here."
            )
            if action == "stopped"
            else _(
                "“%(name)s” was paused because too many of its messages failed. Support is "
                "looking at it and will resume or stop it, so it can't be canceled here."
            )
        )
        return DomainError(text % name, code="paused")
    if sending.status == SendingStatus.SENDING:
        text = (
            _(
                "“%(name)s” is being sent right now, so it can no longer be stopped here. "
                "Request an urgent cancellation from support."
            )
            if action == "stopped"
            else _(
                "“%(name)s” is being sent right now, so it can no longer be canceled here. "
                "Request an urgent cancellation from support."
            )
        )
        return DomainError(text % name, code="in_progress")
    if sending.status == SendingStatus.SENT:
        return DomainError(
            _("“%(name)s” has already been sent; there is nothing left to cancel.") % name,
            code="already_sent",
        )
    return DomainError(
        _("“%(name)s” is a draft that was never scheduled; there is nothing to cancel.") % name,
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
        values = {"count": canceled, "numbers": ", ".join(str(b.number) for b in closed)}
        if len(batches) == 1:
            return (
                ngettext(
                    "Canceled; %(count)s contact will not receive it.",
                    "Canceled; %(count)s contacts will not receive it.",
                    canceled,
                )
                % values
            )
        return (
            ngettext(
                "Canceled (batches %(numbers)s); %(count)s contact will not receive it.",
                "Canceled (batches %(numbers)s); %(count)s contacts will not receive it.",
                canceled,
            )
            % values
        )

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
    SMTP count as canceled from the commit (their rows catch up after it, in chunks:
    `batches.services.batch_close_locked`), so its cost does not depend on the audience;
    those who already received it stay sent. Locks the sending, then its
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
            ngettext(
                "Stopped; %(count)s contact will not receive it.",
                "Stopped; %(count)s contacts will not receive it.",
                canceled,
            )
            % {"count": canceled}
            + f" {note}"
        ).strip(),
    )
    return Changed(closed.sending, closed.changed, closed.canceled)
