"""Reads of the contacts pages, scoped to the user's subaccounts (else 404)."""

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from sendings.models import Contact, ContactImport, ContactList, ListMembership, Membership
from sendings.tenancy.selectors import User, membership_get

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
    fields = ("id", "subaccount_id", "email", "name", "unsubscribed", "bounced_at", "bounce_reason")
    return contacts.only(*fields).order_by("email", "id")


def contact_imports_recent(*, contact_list: ContactList, limit: int = 5) -> list[ContactImport]:
    return list(
        ContactImport.objects.filter(contact_list=contact_list)
        .defer("content", "errors")
        .order_by("-created_at", "-id")[:limit]
    )
