"""Reads used by views. Every read is scoped to the subaccounts the user belongs to."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from batches.models import Batch
from sendings.identifiers import SENDING_PREFIX
from sendings.models import (
    Contact,
    ContactImport,
    ContactList,
    ListMembership,
    Membership,
    Sending,
    SendingEvent,
    SendingStatus,
    Subaccount,
)
from support.selectors import ticket_annotations

User = AbstractBaseUser | AnonymousUser


def subaccounts_for_user(*, user: User) -> QuerySet[Subaccount]:
    if not user.is_authenticated:
        return Subaccount.objects.none()
    return Subaccount.objects.filter(memberships__user=user).select_related("account")


def membership_get(*, user: User, subaccount_id: int) -> Membership:
    """The user's membership of that subaccount, or 404: outsiders learn nothing."""
    if not user.is_authenticated:
        raise Http404("No such subaccount.")
    try:
        return Membership.objects.select_related("subaccount__account").get(
            user=user, subaccount_id=subaccount_id
        )
    except Membership.DoesNotExist:
        raise Http404("No such subaccount.") from None


def sendings_for_user(*, user: User) -> QuerySet[Sending]:
    return Sending.objects.filter(subaccount__in=subaccounts_for_user(user=user))


def sending_list(*, user: User, subaccount_id: int) -> QuerySet[Sending]:
    membership = membership_get(user=user, subaccount_id=subaccount_id)
    return Sending.objects.filter(subaccount=membership.subaccount).order_by("-scheduled_at", "-id")


def sending_get(*, user: User, identifier: str) -> Sending:
    """A sending the user may see, or 404."""
    try:
        return (
            sendings_for_user(user=user)
            .select_related("subaccount__account")
            .annotate(**ticket_annotations())  # the row and the detail page show the ticket
            .get(identifier=identifier)
        )
    except Sending.DoesNotExist:
        raise Http404("No such sending.") from None


def subaccount_overview_for_user(*, user: User) -> QuerySet[Subaccount]:
    """Each subaccount of the user with its number of sendings per status, in one query."""
    counts = {
        status: Count("sendings", filter=Q(sendings__status=status))
        for status in SendingStatus.values
    }
    return subaccounts_for_user(user=user).annotate(**counts).order_by("account__name", "name")


# --- The sending list page ---------------------------------------------------------------------

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


def sending_with_role(*, user: User, identifier: str) -> tuple[Sending, Membership]:
    """A sending the user may see and the user's membership of its subaccount, or 404."""
    sending = sending_get(user=user, identifier=identifier)
    membership = membership_get(user=user, subaccount_id=sending.subaccount_id)
    return sending, membership


def sending_batches(*, sending: Sending) -> list[Batch]:
    return list(Batch.objects.filter(sending=sending).order_by("number"))


def batch_get(*, sending: Sending, number: int) -> Batch:
    """Batch `number` of a sending the caller may already see, or 404."""
    batch = Batch.objects.filter(sending=sending, number=number).first()
    if batch is None:
        raise Http404("No such batch.")
    return batch


def sending_timeline(*, sending: Sending) -> QuerySet[SendingEvent]:
    return (
        SendingEvent.objects.filter(sending=sending)
        .select_related("batch")
        .order_by("created_at", "id")
    )


# --- The "New sending" wizard ------------------------------------------------------------------


def wizard_lists(*, subaccount_id: int) -> QuerySet[ContactList]:
    """The lists a sending of this subaccount may target (and nothing else may be chosen)."""
    return ContactList.objects.filter(subaccount_id=subaccount_id).order_by("name", "id")


def audience_count(*, subaccount_id: int, list_ids) -> int:
    """How many contacts a sending to these lists would reach: subscribed contacts of the
    subaccount on any of the lists, each once (COUNT(DISTINCT)), as `sending_confirm`'s
    snapshot takes them. Ids of another subaccount's lists count nobody."""
    list_ids = list(list_ids)
    if not list_ids:
        return 0
    return (
        Contact.objects.filter(
            subaccount_id=subaccount_id,
            unsubscribed=False,
            listmembership__contact_list_id__in=list_ids,
            listmembership__contact_list__subaccount_id=subaccount_id,
        )
        .aggregate(n=Count("id", distinct=True))["n"]
    )  # fmt: skip


# --- Contacts, lists and imports (issue 6) -----------------------------------------------------

CONTACTS_PAGE_SIZE = 50


def _owned_or_404[M](queryset: QuerySet[M], *, user: User, pk: int, what: str) -> M:
    """The object if its subaccount is one of the user's, else 404 (invariant 5)."""
    found = (
        queryset.filter(pk=pk, subaccount__memberships__user=user).first()
        if user.is_authenticated
        else None
    )
    if found is None:
        raise Http404(f"No such {what}.")
    return found


def contact_list_with_role(*, user: User, list_id: int) -> tuple[ContactList, Membership]:
    contact_list = _owned_or_404(ContactList.objects, user=user, pk=list_id, what="list")
    return contact_list, membership_get(user=user, subaccount_id=contact_list.subaccount_id)


def contact_with_role(*, user: User, contact_id: int) -> tuple[Contact, Membership]:
    contact = _owned_or_404(Contact.objects, user=user, pk=contact_id, what="contact")
    return contact, membership_get(user=user, subaccount_id=contact.subaccount_id)


def contact_import_with_role(*, user: User, import_id: int) -> tuple[ContactImport, Membership]:
    """An import with its list; never the uploaded bytes (up to CONTACT_IMPORT_MAX_MB), which
    a page polled every second has no use for."""
    contact_import = _owned_or_404(
        ContactImport.objects.defer("content").select_related("contact_list"),
        user=user,
        pk=import_id,
        what="import",
    )
    return contact_import, membership_get(user=user, subaccount_id=contact_import.subaccount_id)


def contact_lists_with_counts(*, subaccount_id: int) -> QuerySet[ContactList]:
    """The subaccount's lists by name, each with its number of contacts (one query)."""
    return (
        ContactList.objects.filter(subaccount_id=subaccount_id)
        .annotate(contact_count=Count("listmembership"))
        .order_by("name", "id")
    )


def contact_list_count(*, contact_list: ContactList) -> int:
    return ListMembership.objects.filter(contact_list=contact_list).count()


def contacts_search(
    *, subaccount_id: int, contact_list: ContactList | None = None, q: str = ""
) -> QuerySet[Contact]:
    """Contacts of the subaccount (or of one of its lists) whose email or name contains `q`,
    by email. Only the subaccount's own contacts, even if a foreign one were in the list."""
    contacts = Contact.objects.filter(subaccount_id=subaccount_id)
    if contact_list is not None:
        contacts = contacts.filter(listmembership__contact_list=contact_list)
    if q:
        contacts = contacts.filter(Q(email__icontains=q) | Q(name__icontains=q))
    return contacts.only("id", "subaccount_id", "email", "name", "unsubscribed").order_by(
        "email", "id"
    )


def contact_imports_recent(*, contact_list: ContactList, limit: int = 5) -> list[ContactImport]:
    return list(
        ContactImport.objects.filter(contact_list=contact_list)
        .defer("content", "errors")
        .order_by("-created_at", "-id")[:limit]
    )
