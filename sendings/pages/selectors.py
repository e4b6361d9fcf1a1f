"""The sending list page: one page of rows, the status tabs' counts, search."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Q, QuerySet

from sendings.identifiers import SENDING_PREFIX
from sendings.models import Sending, SendingStatus
from support.selectors import ticket_annotations

PAGE_SIZE = 50
SORTS = {
    # Drafts have no time yet: they lead the newest-first list and close the oldest-first one,
    # which is the order a backward or forward walk of sending_schedule_idx gives for free.
    "-scheduled": [F("scheduled_at").desc(nulls_first=True), F("id").desc()],
    "scheduled": [F("scheduled_at").asc(nulls_last=True), F("id").asc()],
}
DEFAULT_SORT = "-scheduled"
# Only what a row shows: the bodies can be large and the list never needs them.
ROW_FIELDS = [
    "id",
    "subaccount_id",
    "identifier",
    "name",
    "status",
    "scheduled_at",
    "batch_count",
    "total_recipients",
    "sent_count",
    "failed_count",
    "canceled_count",
    "recipients_purged_at",  # the menu offers no resend or correction once the list is gone
]


@dataclass(frozen=True)
class SendingPage:
    rows: list[Sending]
    number: int
    has_previous: bool
    has_next: bool
    # Known without a COUNT from the status tabs' counts; None while searching or beyond the cap.
    total: int | None

    @property
    def start_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + len(self.rows)

    @property
    def page_count(self) -> int | None:
        if self.total is None:
            return None
        return max(1, -(-self.total // PAGE_SIZE))


COUNT_CAP = 1_000


def sending_status_counts(*, subaccount_id: int, cap: int = COUNT_CAP) -> dict[str, int]:
    """How many sendings of the subaccount are in each status, each counted up to `cap` + 1.

    One query of one bounded index-only scan per status (sending_list_idx leads with
    subaccount and status): its cost does not grow with the subaccount, where a GROUP BY over
    100,000 sendings takes tens of milliseconds. A count above `cap` means "more than cap".
    """
    table = connection.ops.quote_name(Sending._meta.db_table)
    one = (
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {table} "
        # ORDER BY keeps the planner on the index: a seq scan "until cap rows" is slower.
        "WHERE subaccount_id = %s AND status = %s ORDER BY scheduled_at LIMIT %s) AS capped)"
    )
    statuses = SendingStatus.values
    params = [value for status in statuses for value in (subaccount_id, status, cap + 1)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join([one] * len(statuses)), params)
        return dict(zip(statuses, cursor.fetchone(), strict=True))


def sending_search(queryset: QuerySet[Sending], q: str) -> QuerySet[Sending]:
    """By name (contains, any case) or by identifier (exact, or a prefix of one)."""
    q = q.strip()
    if not q:
        return queryset
    wanted = q.upper()
    by_identifier = (
        Q(identifier__startswith=wanted)
        if wanted.startswith(SENDING_PREFIX)
        else Q(identifier=wanted)
    )
    return queryset.filter(Q(name__icontains=q) | by_identifier)


def sending_page(
    *,
    subaccount_id: int,
    status: str = "",
    q: str = "",
    sort: str = DEFAULT_SORT,
    number: int = 1,
    counts: dict[str, int] | None = None,
) -> SendingPage:
    """One page of the subaccount's sendings, filtered, searched and sorted.

    Fetches one row more than a page to know whether another page follows, so no COUNT is
    needed: the total comes from the status counts the tabs show anyway (`counts`).
    """
    queryset = (
        Sending.objects.filter(subaccount_id=subaccount_id)
        .only(*ROW_FIELDS)
        .annotate(**ticket_annotations())
    )
    if status:
        queryset = queryset.filter(status=status)
    queryset = sending_search(queryset, q)
    queryset = queryset.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
    offset = (number - 1) * PAGE_SIZE
    rows = list(queryset[offset : offset + PAGE_SIZE + 1])
    total = None
    if counts is not None and not q.strip():
        counted = [counts[status]] if status else list(counts.values())
        # Beyond the cap only "more than" is known.
        total = sum(counted) if max(counted) <= COUNT_CAP else None
    return SendingPage(
        rows=rows[:PAGE_SIZE],
        number=number,
        has_previous=number > 1,
        has_next=len(rows) > PAGE_SIZE,
        total=total,
    )
