"""What a marketer does after a sending: resend it to those who did not receive it, send a
correction to those who did, unschedule it back to a draft, export who got what.

Resends and corrections are Drafts with a fixed audience (`Sending.source_sending` and
`source_audience`): `sending_confirm` snapshots it from the source's recipients, not from
lists. Every service locks the sending row first (sendings.transitions) and records what it
did in the timeline.
"""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from batches.models import Batch, BatchStatus, Recipient
from sendings.exceptions import DomainError
from sendings.models import Sending, SendingEvent, SendingStatus, SourceAudience
from sendings.results import Changed
from sendings.transitions import event_record, sending_lock

NAME_MAX = Sending._meta.get_field("name").max_length
# Wizard modes a marketer typed that still make sense after an unschedule ("now" does not).
KEPT_MODES = ("at", "batches", "split")


def _followup_name(template: str, name: str) -> str:
    return (template % {"name": name})[:NAME_MAX]


def _followup_create(
    *,
    sending: Sending,
    actor,
    audience: str,
    allowed: str,
    refusal: str,
    name: str,
    copy_content: bool,
    kind: str,
    describe: str,
) -> Changed[Sending]:
    with transaction.atomic():
        source, _batches = sending_lock(sending.pk)
        existing = (
            Sending.objects.filter(
                source_sending=source, source_audience=audience, status=SendingStatus.DRAFT
            )
            .order_by("-id")
            .first()
        )
        if existing is not None:  # a double click, or a draft left unfinished: reuse it
            return Changed(existing, changed=False)
        if source.recipients_purged:
            raise DomainError(
                source.purged_refusal(),
                code="purged",
            )
        if not getattr(source, allowed):
            raise DomainError(refusal % {"name": source.name}, code="not_allowed")
        fields = {"from_name": source.from_name, "from_email": source.from_email}
        if copy_content:
            fields |= {
                "subject": source.subject,
                "html_body": source.html_body,
                "text_body": source.text_body,
            }
        draft = Sending.objects.create(
            subaccount_id=source.subaccount_id,
            name=_followup_name(name, source.name),
            status=SendingStatus.DRAFT,
            source_sending=source,
            source_audience=audience,
            created_by=actor,
            **fields,
        )
        event_record(
            sending=source,
            kind=kind,
            actor=actor,
            message=describe % {"name": draft.name, "identifier": draft.identifier},
        )
        event_record(
            sending=draft,
            kind=kind,
            actor=actor,
            message=_("Created from “%(name)s” (%(identifier)s).")
            % {"name": source.name, "identifier": source.identifier},
        )
    return Changed(draft, changed=True)


def sending_resend_create(*, sending: Sending, actor) -> Changed[Sending]:
    """A new Draft "<name> (resend)" with the content copied, whose audience is the
    recipients of `sending` that were canceled or failed (minus anyone unsubscribed by the
    time it is confirmed).

    Locks the original's row; refused (code `not_allowed`) unless it ended without reaching
    everyone. While such a draft is still a Draft, asking again returns it (`changed` False).
    The timelines of both say who made it from what.
    """
    return _followup_create(
        sending=sending,
        actor=actor,
        audience=SourceAudience.NOT_RECEIVED,
        allowed="can_resend",
        refusal=gettext_lazy(
            "“%(name)s” reached everyone it was meant for, or has not ended yet: there is "
            "nobody to resend it to."
        ),
        name=gettext_lazy("%(name)s (resend)"),
        copy_content=True,
        kind=SendingEvent.Kind.RESEND_CREATED,
        describe=gettext_lazy(
            "Resend “%(name)s” (%(identifier)s) created for those who did not receive it."
        ),
    )


def sending_correction_create(*, sending: Sending, actor) -> Changed[Sending]:
    """A new Draft "Correction: <name>" whose audience is the recipients of `sending` that
    were sent it; subject and message empty (the sender is kept).

    Locks the original's row; refused (code `not_allowed`) unless it ended having reached
    someone. While such a draft is still a Draft, asking again returns it (`changed` False).
    """
    return _followup_create(
        sending=sending,
        actor=actor,
        audience=SourceAudience.RECEIVED,
        allowed="can_send_correction",
        refusal=gettext_lazy(
            "“%(name)s” has not reached anyone, or has not ended yet: there is nobody to correct."
        ),
        name=gettext_lazy("Correction: %(name)s"),
        copy_content=False,
        kind=SendingEvent.Kind.CORRECTION_CREATED,
        describe=gettext_lazy(
            "Correction “%(name)s” (%(identifier)s) created for those who received it."
        ),
    )


def _schedule_draft_of(sending: Sending, batches: list[Batch]) -> dict:
    """The wizard's step 6 choices that give these batches again (times in the zone)."""
    kept = sending.schedule_draft or {}
    if kept.get("mode") in KEPT_MODES:
        return kept
    zone = sending.subaccount.zone

    def local(moment: datetime) -> tuple[str, str]:
        moment = moment.astimezone(zone)
        return f"{moment:%Y-%m-%d}", f"{moment:%H:%M}"

    if len(batches) == 1:
        day, at = local(batches[0].scheduled_at)
        return {"mode": "at", "date": day, "time": at, "rows": []}
    rows = []
    for batch in batches:
        day, at = local(batch.scheduled_at)
        rows.append({"date": day, "time": at, "count": str(batch.recipient_count)})
    return {"mode": "batches", "rows": rows}


def sending_unschedule(*, sending: Sending, actor) -> Changed[Sending]:
    """Return a Scheduled sending none of whose batches has started to Draft, to edit it.

    Locks the sending, then its batches; a batch that started (or was canceled) meanwhile
    refuses it (code `started`), so an unschedule racing the batch start has exactly one
    winner: a start that waited for the lock finds no batch and does nothing. The schedule
    is kept as the wizard's step 6 choices; batches and the audience snapshot are dropped
    (taken again at confirmation). A draft already is a no-op (`changed` False).
    """
    with transaction.atomic():
        sending, batches = sending_lock(sending.pk)
        if sending.status == SendingStatus.DRAFT:
            return Changed(sending, changed=False)
        if not sending.can_unschedule or any(
            batch.status != BatchStatus.SCHEDULED for batch in batches
        ):
            raise DomainError(
                _(
                    "“%(name)s” is %(status)s and has started going out, so it can no longer "
                    "be unscheduled. Cancel what is still scheduled, or duplicate it."
                )
                % {"name": sending.name, "status": sending.get_status_display().lower()},
                code="started",
            )
        when = _schedule_draft_of(sending, batches)
        total = sending.total_recipients
        Recipient.objects.filter(sending=sending).delete()
        SendingEvent.objects.filter(sending=sending, batch__isnull=False).update(batch=None)
        Batch.objects.filter(sending=sending).delete()
        sending.status = SendingStatus.DRAFT
        sending.schedule_draft = when
        sending.scheduled_at = None
        sending.batch_count = 0
        sending.total_recipients = 0
        sending.confirmed_at = None
        sending.finished_at = None
        sending.save(
            update_fields=[
                "status",
                "schedule_draft",
                "scheduled_at",
                "batch_count",
                "total_recipients",
                "confirmed_at",
                "finished_at",
            ]
        )
        event_record(
            sending=sending,
            kind=SendingEvent.Kind.UNSCHEDULED,
            actor=actor,
            message=ngettext(
                "Back to draft; its %(count)s recipient will be chosen again when it is confirmed.",
                "Back to draft; its %(count)s recipients will be chosen again when it is "
                "confirmed.",
                total,
            )
            % {"count": total},
        )
    return Changed(sending, changed=True)


def recipients_export_record(
    *, sending: Sending, actor, status_label: str, batch_number: int | None = None
) -> SendingEvent:
    """Record in the timeline who exported which recipients (nothing else changes)."""
    values = {"batch": batch_number, "status": status_label.lower()}
    return event_record(
        sending=sending,
        kind=SendingEvent.Kind.RECIPIENTS_EXPORTED,
        actor=actor,
        message=(
            _("Recipients exported as CSV (batch %(batch)s, %(status)s).") % values
            if batch_number
            else _("Recipients exported as CSV (%(status)s).") % values
        ),
    )
