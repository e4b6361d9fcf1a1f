"""Who got what: one page of a sending's recipients, and every one of them for the export.

Pages are walked by email (keyset), never by OFFSET: each page is one range scan of an index
that leads with the sending (`recipient_email_unique` for All, `recipient_status_email_idx`
for one status), so page 20,000 of a 1,000,000-recipient sending costs what page 1 does.

A stopped batch's rows catch up after the stop (the deferred cancel): until then its pending
rows count as canceled, in the filters and in the labels (`batches.models.counted_as_q`).
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import pgettext_lazy

from batches.models import Batch, Recipient, RecipientStatus, status_shown
from sendings.models import Sending

PAGE_SIZE = 50
EXPORT_CHUNK = 5_000


@dataclass(frozen=True)
class RecipientFilter:
    value: str  # in the URL: ?status=
    label: str
    statuses: tuple[str, ...]  # Recipient statuses; empty for all

    def count(self, sending: Sending) -> int:
        """From the sending's counters: no COUNT over its recipients."""
        return {
            "": sending.total_recipients,
            "sent": sending.sent_count,
            "failed": sending.failed_count,
            "canceled": sending.canceled_count,
            "waiting": sending.pending_count,
        }[self.value]


FILTERS = (
    RecipientFilter("", pgettext_lazy("recipient filter", "All"), ()),
    RecipientFilter("sent", pgettext_lazy("recipient filter", "Sent"), (RecipientStatus.SENT,)),
    RecipientFilter(
        "failed", pgettext_lazy("recipient filter", "Failed"), (RecipientStatus.FAILED,)
    ),
    RecipientFilter(
        "canceled", pgettext_lazy("recipient filter", "Canceled"), (RecipientStatus.CANCELED,)
    ),
    RecipientFilter(
        "waiting", pgettext_lazy("recipient filter", "Waiting"), (RecipientStatus.PENDING,)
    ),
)
FILTER_BY_VALUE = {f.value: f for f in FILTERS}
# What a recipient's status reads as on the page and in the export.
STATUS_LABELS = {
    RecipientStatus.PENDING: pgettext_lazy("recipient status", "Waiting"),
    RecipientStatus.SENT: pgettext_lazy("recipient status", "Sent"),
    RecipientStatus.FAILED: pgettext_lazy("recipient status", "Failed"),
    RecipientStatus.CANCELED: pgettext_lazy("recipient status", "Canceled"),
}
FIELDS = ("id", "email", "name", "batch_id", "status", "sent_at", "attempts", "last_error")


@dataclass(frozen=True)
class RecipientPage:
    rows: list[dict]
    # The keyset bounds for the neighbouring pages; None when there is none.
    next_after: str | None
    previous_before: str | None
    is_first: bool


def batch_numbers(*, sending: Sending) -> dict[int, int]:
    """Batch id -> number (a sending has at most 100 batches)."""
    return dict(Batch.objects.filter(sending=sending).values_list("id", "number"))


def batches_catching_up(*, sending: Sending) -> frozenset[int]:
    """The sending's canceled batches whose pending rows have not caught up yet."""
    return frozenset(
        Batch.objects.filter(sending=sending, rows_catching_up=True).values_list("id", flat=True)
    )


def _recipients(
    *,
    sending: Sending,
    filter: RecipientFilter,
    catching_up: frozenset[int],
    q: str = "",
    batch_id: int | None = None,
) -> QuerySet[Recipient]:
    queryset = Recipient.objects.filter(sending=sending)
    if filter.statuses:
        queryset = queryset.counted_as(*filter.statuses, catching_up=catching_up)
    if batch_id is not None:
        queryset = queryset.filter(batch_id=batch_id)
    if q:
        # Emails are stored lower-case: a plain LIKE, no UPPER() on every row.
        queryset = queryset.filter(email__contains=q.lower())
    return queryset.values(*FIELDS)


def _with_labels(
    rows: list[dict], numbers: dict[int, int], catching_up: frozenset[int]
) -> list[dict]:
    for row in rows:
        row["batch"] = numbers.get(row["batch_id"])
        row["status"] = status_shown(row["status"], batch_canceled=row["batch_id"] in catching_up)
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return rows


def recipient_page(
    *,
    sending: Sending,
    filter: RecipientFilter,
    q: str = "",
    after: str = "",
    before: str = "",
    numbers: dict[int, int] | None = None,
) -> RecipientPage:
    """PAGE_SIZE recipients by email: the first page, the one after `after` or the one
    before `before`. Fetches one row more than a page to know whether another follows."""
    catching_up = batches_catching_up(sending=sending)
    queryset = _recipients(sending=sending, filter=filter, catching_up=catching_up, q=q)
    if before:
        rows = list(queryset.filter(email__lt=before).order_by("-email")[: PAGE_SIZE + 1])
        more_before = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        has_next, has_previous = True, more_before
    else:
        if after:
            queryset = queryset.filter(email__gt=after)
        rows = list(queryset.order_by("email")[: PAGE_SIZE + 1])
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_previous = bool(after)
    if numbers is None:
        numbers = batch_numbers(sending=sending)
    rows = _with_labels(rows, numbers, catching_up)
    return RecipientPage(
        rows=rows,
        next_after=rows[-1]["email"] if rows and has_next else None,
        previous_before=rows[0]["email"] if rows and has_previous else None,
        is_first=not has_previous,
    )


EXPORT_FIELDS = ("email", "name", "batch_id", "status", "sent_at", "attempts", "last_error")


def recipients_for_export(
    *, sending: Sending, filter: RecipientFilter, q: str = "", batch_id: int | None = None
) -> Iterator[list[tuple]]:
    """Every recipient of the filter, by email, in chunks of EXPORT_CHUNK (keyset), each a
    list of (email, name, batch number, status label, sent at, attempts, last error): memory
    stays flat however many there are, and no transaction or server-side cursor is held open
    while the client reads."""
    numbers = batch_numbers(sending=sending)
    catching_up = batches_catching_up(sending=sending)
    labels = STATUS_LABELS
    queryset = (
        _recipients(sending=sending, filter=filter, catching_up=catching_up, q=q, batch_id=batch_id)
        .values_list(*EXPORT_FIELDS)
        .order_by("email")
    )
    last = ""
    while True:
        rows = list(queryset.filter(email__gt=last)[:EXPORT_CHUNK])
        if rows:
            yield [
                (
                    email,
                    name,
                    numbers.get(batch),
                    labels[status_shown(status, batch_canceled=batch in catching_up)],
                    sent_at,
                    attempts,
                    error,
                )
                for email, name, batch, status, sent_at, attempts, error in rows
            ]
        if len(rows) < EXPORT_CHUNK:
            return
        last = rows[-1][0]
