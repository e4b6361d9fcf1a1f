"""Contact lists, contacts and CSV import pages, tried by every persona."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sendings.contacts import services
from sendings.models import Contact, ContactImport, ContactList, ListMembership
from tests.factories import ContactFactory, ContactListFactory, contact_list_with
from tests.sendings.conftest import (
    KEPT_OUT,
    MEMBER_PERSONAS,
    MEMBERS,
    REFUSED,
    assert_forbidden,
)
from tests.workers import WorkerPool, broker_flush, database_url, wait_for

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def newsletter(subaccount) -> ContactList:
    contact_list = ContactListFactory(subaccount=subaccount, name="Newsletter")
    for email, name in [("ana@example.com", "Ana Pérez"), ("bob@example.com", "Bob Stone")]:
        contact = ContactFactory(subaccount=subaccount, email=email, name=name)
        ListMembership.objects.create(contact_list=contact_list, contact=contact)
    return contact_list


@pytest.fixture
def ana(newsletter) -> Contact:
    return Contact.objects.get(email="ana@example.com")


def html(response) -> str:
    return response.content.decode()


def upload(content: bytes, name: str = "contacts.csv") -> dict:
    return {"file": SimpleUploadedFile(name, content, content_type="text/csv")}


# --- Pages: who gets in, and what a member is offered ----------------------------------------

# The pages of a subaccount's contacts, as a url for the test's contact list.
PAGES = {
    "lists": lambda contact_list: reverse("contact_lists", args=[contact_list.subaccount_id]),
    "list": lambda contact_list: reverse("contact_list_detail", args=[contact_list.pk]),
    "all-contacts": lambda contact_list: reverse(
        "contact_index", args=[contact_list.subaccount_id]
    ),
    "import": lambda contact_list: reverse(
        "contact_import_detail", args=[contact_list.imports.get().pk]
    ),
    "rename-form": lambda contact_list: reverse("contact_list_rename", args=[contact_list.pk]),
    "upload-form": lambda contact_list: reverse("contact_import_upload", args=[contact_list.pk]),
}


@pytest.fixture
def an_import(newsletter, marketer) -> ContactImport:
    return ContactImport.objects.create(
        subaccount=newsletter.subaccount, contact_list=newsletter, created_by=marketer
    )


@pytest.mark.parametrize("page_name", PAGES)
@pytest.mark.parametrize(("persona", "assert_kept_out"), KEPT_OUT)
def test_strangers_are_kept_out_of_every_page(
    as_persona, newsletter, an_import, page_name, assert_kept_out
):
    assert_kept_out(as_persona.get(PAGES[page_name](newsletter)))


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_lists_page_counts_contacts_and_offers_create_only_to_a_marketer(
    as_persona, may_act, subaccount, newsletter
):
    ContactListFactory(subaccount=subaccount, name="Empty list")

    response = as_persona.get(reverse("contact_lists", args=[subaccount.pk]))

    assert response.status_code == 200
    content = html(response)
    assert re.search(r"Newsletter</a></th>\s*<td class=\"num\">2</td>", content)
    assert re.search(r"Empty list</a></th>\s*<td class=\"num\">0</td>", content)
    assert 'aria-current="page">' in content and ">Contacts</a>" in content
    assert ("Create list" in content) is may_act


@pytest.mark.parametrize(("persona", "may_act"), MEMBERS)
def test_list_page_shows_its_contacts_and_offers_changes_only_to_a_marketer(
    as_persona, may_act, newsletter, subaccount
):
    ContactFactory(subaccount=subaccount, email="notinlist@example.com")

    response = as_persona.get(reverse("contact_list_detail", args=[newsletter.pk]))

    content = html(response)
    assert "ana@example.com" in content and "Bob Stone" in content
    assert "notinlist@example.com" not in content
    assert "2 contacts" in content
    assert ("Import CSV" in content) is may_act
    assert ("Unsubscribe ana@example.com" in content) is may_act


@pytest.mark.parametrize("persona", MEMBER_PERSONAS)
def test_all_contacts_page_shows_every_contact_to_members(as_persona, newsletter, subaccount):
    ContactFactory(subaccount=subaccount, email="notinlist@example.com")

    response = as_persona.get(reverse("contact_index", args=[subaccount.pk]))

    content = html(response)
    for email in ("ana@example.com", "bob@example.com", "notinlist@example.com"):
        assert email in content


@pytest.mark.parametrize("persona", MEMBER_PERSONAS)
def test_import_page_shows_its_progress_to_members(as_persona, an_import):
    response = as_persona.get(reverse("contact_import_detail", args=[an_import.pk]))

    assert response.status_code == 200
    assert "Waiting for a worker" in html(response)


@pytest.mark.parametrize("page_name", ["rename-form", "upload-form"])
def test_forms_are_refused_to_a_viewer(client, viewer, newsletter, page_name):
    client.force_login(viewer)

    assert_forbidden(client.get(PAGES[page_name](newsletter)))


@pytest.mark.parametrize("page_name", ["rename-form", "upload-form"])
def test_forms_are_for_marketers(client, marketer, newsletter, page_name):
    client.force_login(marketer)

    response = client.get(PAGES[page_name](newsletter))

    assert response.status_code == 200
    assert '<label for="id_' in html(response)


# --- Posts: viewers 403, outsiders 404, anonymous to login -----------------------------------


@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_create_list_is_refused_to_all_but_a_marketer(as_persona, subaccount, assert_refused):
    response = as_persona.post(reverse("contact_lists", args=[subaccount.pk]), {"name": " VIP "})

    assert_refused(response)
    assert not ContactList.objects.filter(name="VIP").exists()


def test_a_marketer_creates_a_list(client, marketer, subaccount):
    client.force_login(marketer)

    response = client.post(reverse("contact_lists", args=[subaccount.pk]), {"name": " VIP "})

    created = ContactList.objects.get(subaccount=subaccount, name="VIP")
    assert response.status_code == 302
    assert response.url == reverse("contact_list_detail", args=[created.pk])


@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_rename_list_is_refused_to_all_but_a_marketer(as_persona, newsletter, assert_refused):
    response = as_persona.post(
        reverse("contact_list_rename", args=[newsletter.pk]), {"name": "Weekly news"}
    )

    assert_refused(response)
    newsletter.refresh_from_db()
    assert newsletter.name == "Newsletter"


def test_a_marketer_renames_a_list(client, marketer, newsletter):
    client.force_login(marketer)

    response = client.post(
        reverse("contact_list_rename", args=[newsletter.pk]), {"name": "Weekly news"}
    )

    newsletter.refresh_from_db()
    assert response.status_code == 302
    assert newsletter.name == "Weekly news"


@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_unsubscribe_is_refused_to_all_but_a_marketer(as_persona, ana, assert_refused):
    response = as_persona.post(reverse("contact_unsubscribe", args=[ana.pk]))

    assert_refused(response)
    ana.refresh_from_db()
    assert ana.unsubscribed is False


def test_a_marketer_unsubscribes_a_contact(client, marketer, ana):
    client.force_login(marketer)

    response = client.post(reverse("contact_unsubscribe", args=[ana.pk]))

    ana.refresh_from_db()
    assert response.status_code == 302
    assert ana.unsubscribed is True
    assert ana.unsubscribed_at is not None


@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_upload_is_refused_to_all_but_a_marketer(as_persona, newsletter, assert_refused):
    response = as_persona.post(
        reverse("contact_import_upload", args=[newsletter.pk]), upload(b"new@example.com\n")
    )

    assert_refused(response)
    assert not ContactImport.objects.exists()


def test_a_marketer_uploads_a_csv_and_goes_to_its_import(client, marketer, newsletter):
    client.force_login(marketer)

    response = client.post(
        reverse("contact_import_upload", args=[newsletter.pk]), upload(b"new@example.com\n")
    )

    contact_import = ContactImport.objects.get()
    assert response.url == reverse("contact_import_detail", args=[contact_import.pk])


# --- Validation and behaviour -----------------------------------------------------------------


def test_create_list_with_a_taken_name_says_so(client, marketer, subaccount, newsletter):
    client.force_login(marketer)

    response = client.post(reverse("contact_lists", args=[subaccount.pk]), {"name": "newsletter"})

    assert response.status_code == 200
    assert "There is already a list named “newsletter”." in html(response)
    assert 'aria-invalid="true"' in html(response)
    assert ContactList.objects.filter(subaccount=subaccount).count() == 1


def test_same_list_name_in_another_subaccount_is_fine(client, outsider, other_subaccount):
    ContactListFactory(name="Newsletter")  # in yet another subaccount
    client.force_login(outsider)

    client.post(reverse("contact_lists", args=[other_subaccount.pk]), {"name": "Newsletter"})

    assert ContactList.objects.filter(subaccount=other_subaccount, name="Newsletter").exists()


def test_empty_list_name_is_refused(client, marketer, subaccount):
    client.force_login(marketer)

    response = client.post(reverse("contact_lists", args=[subaccount.pk]), {"name": "  "})

    assert "This field is required." in html(response)
    assert not ContactList.objects.exists()


def test_rename_to_a_taken_name_says_so(client, marketer, subaccount, newsletter):
    ContactListFactory(subaccount=subaccount, name="VIP")
    client.force_login(marketer)

    response = client.post(reverse("contact_list_rename", args=[newsletter.pk]), {"name": "VIP"})

    assert response.status_code == 200
    assert "There is already a list named “VIP”." in html(response)
    newsletter.refresh_from_db()
    assert newsletter.name == "Newsletter"


def test_unsubscribe_twice_keeps_the_first_time(client, marketer, ana):
    client.force_login(marketer)
    url = reverse("contact_unsubscribe", args=[ana.pk])

    client.post(url)
    first = Contact.objects.get(pk=ana.pk).unsubscribed_at
    response = client.post(url, follow=True)

    assert "ana@example.com was already unsubscribed." in html(response)
    assert Contact.objects.get(pk=ana.pk).unsubscribed_at == first


def test_unsubscribe_with_htmx_returns_the_fresh_row(client, marketer, ana):
    client.force_login(marketer)

    response = client.post(reverse("contact_unsubscribe", args=[ana.pk]), **HTMX)

    content = html(response)
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<tr id="contact-{ana.pk}"')
    assert "Unsubscribed</span>" in content
    assert "Unsubscribe ana@example.com" not in content  # nothing left to click
    assert "is unsubscribed" in content


def test_unsubscribe_goes_back_to_the_page_it_came_from(client, marketer, ana, newsletter):
    client.force_login(marketer)
    back = reverse("contact_list_detail", args=[newsletter.pk]) + "?q=ana"

    response = client.post(reverse("contact_unsubscribe", args=[ana.pk]), {"next": back})

    assert response.url == back
    response = client.post(
        reverse("contact_unsubscribe", args=[ana.pk]), {"next": "https://evil.example/"}
    )
    assert response.url == reverse("contact_index", args=[ana.subaccount_id])


def test_search_by_email_or_name(client, marketer, subaccount, newsletter):
    client.force_login(marketer)
    url = reverse("contact_list_detail", args=[newsletter.pk])

    by_name = html(client.get(url, {"q": "pérez"}))
    by_email = html(client.get(url, {"q": "BOB@"}))
    nothing = html(client.get(url, {"q": "zzz"}))

    assert "ana@example.com" in by_name and "bob@example.com" not in by_name
    assert "bob@example.com" in by_email and "ana@example.com" not in by_email
    assert "No contact matches “zzz”." in nothing


def test_htmx_search_returns_only_the_results(client, marketer, subaccount, newsletter):
    client.force_login(marketer)

    response = client.get(
        reverse("contact_index", args=[subaccount.pk]),
        {"q": "ana"},
        HTTP_HX_TARGET="contacts-results",
        **HTMX,
    )

    content = html(response)
    assert content.lstrip().startswith('<div id="contacts-results"')
    assert "<html" not in content and "ana@example.com" in content


def test_contacts_are_paged_50_at_a_time(client, marketer, subaccount):
    contact_list = contact_list_with(subaccount, 120, name="Big")
    client.force_login(marketer)
    url = reverse("contact_list_detail", args=[contact_list.pk])

    first = html(client.get(url))
    third = html(client.get(url, {"page": 3}))

    assert first.count('<tr id="contact-') == 50
    assert "1\u201350 of 120" in first and "Page 1 of 3" in first
    assert f'href="{url}?page=2"' in first
    assert third.count('<tr id="contact-') == 20
    assert "101\u2013120 of 120" in third


def test_other_subaccounts_contacts_never_show(client, marketer, subaccount, other_subaccount):
    ContactFactory(subaccount=other_subaccount, email="secret@example.com")
    client.force_login(marketer)

    content = html(client.get(reverse("contact_index", args=[subaccount.pk]), {"q": "secret"}))

    assert "secret@example.com" not in content


def test_contacts_page_query_count_does_not_grow_with_rows(client, marketer, subaccount):
    contact_list = contact_list_with(subaccount, 10, name="Sized")
    client.force_login(marketer)
    url = reverse("contact_list_detail", args=[contact_list.pk])
    client.get(url)  # the first visit writes the session
    counts = []
    for more in (0, 50):
        more_contacts = contact_list_with(subaccount, more, start=1000)
        ListMembership.objects.bulk_create(
            ListMembership(contact_list=contact_list, contact_id=m.contact_id)
            for m in ListMembership.objects.filter(contact_list=more_contacts)
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))

    assert html(response).count('<tr id="contact-') == 50
    # Session (in the database, so pages work without Redis), membership, list, count, page,
    # recent imports, the shell's subaccounts, session user...
    assert counts[0] == counts[1] <= 9, counts


def test_lists_page_query_count_does_not_grow_with_lists(client, marketer, subaccount):
    client.force_login(marketer)
    url = reverse("contact_lists", args=[subaccount.pk])
    counts = []
    for _ in range(2):
        contact_list_with(subaccount, 3)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        counts.append(len(queries))

    assert counts[0] == counts[1]


# --- Upload, progress, result ------------------------------------------------------------------


def test_upload_then_progress_then_result(
    client, marketer, newsletter, eager_tasks, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    content = b"email;name\r\nnew@example.com;New One\r\nnope;Bad\r\nANA@example.com;Ana P.\r\n"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("contact_import_upload", args=[newsletter.pk]), upload(content)
        )
    contact_import = ContactImport.objects.get()
    page_url = reverse("contact_import_detail", args=[contact_import.pk])
    assert response.url == page_url
    assert contact_import.file_name == "contacts.csv"
    assert bytes(contact_import.content) == content

    # Before a worker picks it up: the page says it is waiting and polls every second.
    waiting = html(client.get(page_url))
    assert "Waiting for a worker" in waiting
    assert 'hx-trigger="every 1s"' in waiting

    # Halfway (what a poll sees between two chunks).
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status="running", total_rows=100_000, processed_rows=12_000
    )
    poll = html(client.get(page_url, HTTP_HX_TARGET="import-progress", **HTMX))
    assert poll.lstrip().startswith('<section id="import-progress"')
    assert "12,000 of 100,000 rows" in poll
    assert '<progress class="progress progress-wide" max="100000" value="12000"' in poll
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status="pending", total_rows=0, processed_rows=0
    )

    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the (eager) task runs the import

    done = html(client.get(page_url, HTTP_HX_TARGET="import-progress", **HTMX))
    assert "hx-trigger" not in done  # polling stops
    assert re.search(r"<dt>New contacts</dt><dd>1</dd>", done)
    assert re.search(r"<dt>Updated</dt><dd>1</dd>", done)
    assert re.search(r"<dt>Not imported</dt><dd>1</dd>", done)
    assert re.search(r'<td class="num">3</td><td>“nope” is not a valid email address</td>', done)
    assert ListMembership.objects.filter(contact_list=newsletter).count() == 3


def test_only_the_first_100_row_errors_are_listed(client, marketer, newsletter):
    client.force_login(marketer)
    content = b"".join(b"bad%d\n" % i for i in range(150)) + b"ok@example.com\n"
    response = client.post(reverse("contact_import_upload", args=[newsletter.pk]), upload(content))

    services.contact_import_run(contact_import_id=ContactImport.objects.get().pk)  # the worker
    content = html(client.get(response.url))

    assert "Showing the first 100 of 150 rows with errors." in content
    assert content.count("is not a valid email address") == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        ("josé@example.com\n".encode("latin-1"), "The file is not UTF-8 text"),
        (b"PK\x03\x04\x00\x00", "This is not a CSV file."),
    ],
    ids=["empty", "latin-1", "spreadsheet"],
)
def test_unreadable_upload_is_refused_on_the_form(client, marketer, newsletter, content, message):
    client.force_login(marketer)

    response = client.post(
        reverse("contact_import_upload", args=[newsletter.pk]), upload(content, "x.csv")
    )

    assert response.status_code == 400
    assert message in html(response)
    assert not ContactImport.objects.exists()


def test_too_large_upload_is_refused(client, marketer, newsletter, settings):
    settings.CONTACT_IMPORT_MAX_MB = 1
    client.force_login(marketer)

    response = client.post(
        reverse("contact_import_upload", args=[newsletter.pk]),
        upload(b"a@example.com\n" * 80_000),
    )

    assert response.status_code == 400
    assert "The file is 1.1 MB; the limit is 1 MB." in html(response)
    assert not ContactImport.objects.exists()


def test_failed_import_shows_why(client, marketer, newsletter):
    contact_import = ContactImport.objects.create(
        subaccount=newsletter.subaccount,
        contact_list=newsletter,
        status="failed",
        failure="The file has a header row but no contacts.",
    )
    client.force_login(marketer)

    content = html(client.get(reverse("contact_import_detail", args=[contact_import.pk])))

    assert "The file has a header row but no contacts." in content
    assert "hx-trigger" not in content


# --- The whole way: upload, broker, a real Celery worker, the page -----------------------------


@pytest.fixture
def worker_pool(transactional_db, tmp_path):
    """A real worker process on the test database (no beat, no SMTP needed)."""
    broker_flush()
    pool = WorkerPool(log_dir=tmp_path, database=database_url(), email_port=None)
    yield pool
    pool.stop_all()


@pytest.mark.slow
def test_upload_is_imported_by_a_real_worker(client, marketer, newsletter, worker_pool):
    worker_pool.start(1, beat=False)
    client.force_login(marketer)

    response = client.post(
        reverse("contact_import_upload", args=[newsletter.pk]),
        upload(b"Email,Name\nnew@example.com,New\nANA@example.com,\n"),
    )

    contact_import = ContactImport.objects.get()
    wait_for(
        lambda: ContactImport.objects.get(pk=contact_import.pk).is_finished,
        timeout=30,
        what="the worker to finish the import",
    )
    content = html(client.get(response.url))
    assert re.search(r"<dt>New contacts</dt><dd>1</dd>", content)
    assert re.search(r"<dt>Updated</dt><dd>1</dd>", content)
    assert Contact.objects.get(email="ana@example.com").name == "Ana Pérez"  # kept
