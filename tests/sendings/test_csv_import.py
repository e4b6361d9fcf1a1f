"""CSV import into a list: what a marketer's messy files become

Imports run through the service, as the Celery task runs it; the counts and row errors asserted
are the ones the import page shows.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from sendings.contacts import services
from sendings.contacts.csv_import import CsvFileError, contacts_csv_parse
from sendings.contacts.tasks import contact_import_run_task
from sendings.models import Contact, ContactImport, ListMembership
from tests.factories import ContactFactory, ContactListFactory, SubaccountFactory

pytestmark = pytest.mark.django_db

UNSUBSCRIBED_AT = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
LONG_EMAIL = "x" * 250 + "@example.com"
# Line numbers on the right are the file's lines, as an editor shows them.
MESSY = (
    "\ufeffE-mail;Nombre\r\n"  # 1 header, with a byte order mark, Spanish, semicolons
    "ana@example.com;Ana\r\n"  # 2 new
    "\r\n"  # 3 blank
    '"BOB@Example.com";"Bob ""The Builder"""\r\n'  # 4 new, quoted, upper case
    "not-an-email;Nobody\r\n"  # 5 invalid
    ";Empty\r\n"  # 6 no email
    "ana@example.com;Ana María\r\n"  # 7 repeats line 2, with a better name
    "existing@example.com;New Name\r\n"  # 8 already a contact: renamed
    "gone@example.com;\r\n"  # 9 already a contact, unsubscribed, no name in the file
    '"carol@example.com";"Carol; with semicolon";extra column\r\n'  # 10 new
    '"dave@example.com";"Dave\r\nSecond line"\r\n'  # 11-12 new, name spans two lines
    f"{LONG_EMAIL};Long\r\n"  # 13 too long
    "eve@example.com\r\n"  # 14 new, no name
).encode()


@pytest.fixture
def contact_list(subaccount):
    return ContactListFactory(subaccount=subaccount, name="Newsletter")


def run_import(contact_list, content: bytes, *, actor=None) -> ContactImport:
    """Upload then import, as the upload view and the worker do."""
    contact_import = services.contact_import_create(
        contact_list=contact_list, file_name="contacts.csv", content=content, actor=actor
    )
    contact_import_run_task(contact_import.pk)
    contact_import.refresh_from_db()
    return contact_import


def list_emails(contact_list) -> set[str]:
    return set(
        ListMembership.objects.filter(contact_list=contact_list).values_list(
            "contact__email", flat=True
        )
    )


def test_messy_file_gives_exact_counts_and_row_errors(subaccount, contact_list):
    ContactFactory(subaccount=subaccount, email="existing@example.com", name="Old Name")
    ContactFactory(
        subaccount=subaccount,
        email="gone@example.com",
        name="Gone Person",
        unsubscribed=True,
        unsubscribed_at=UNSUBSCRIBED_AT,
    )
    # Same email in another subaccount: a different contact, untouched.
    elsewhere = ContactFactory(subaccount=SubaccountFactory(), email="ana@example.com", name="X")

    result = run_import(contact_list, MESSY)

    assert result.status == ContactImport.Status.DONE
    assert (result.created_count, result.updated_count, result.invalid_count) == (5, 2, 3)
    assert result.duplicate_count == 1
    assert result.total_rows == result.processed_rows == 11
    assert result.errors == [
        {"line": 5, "reason": "“not-an-email” is not a valid email address"},
        {"line": 6, "reason": "Email is missing"},
        {"line": 13, "reason": "Email is longer than 254 characters"},
    ]
    assert list_emails(contact_list) == {
        "ana@example.com",
        "bob@example.com",
        "existing@example.com",
        "gone@example.com",
        "carol@example.com",
        "dave@example.com",
        "eve@example.com",
    }
    names = dict(Contact.objects.filter(subaccount=subaccount).values_list("email", "name"))
    assert names == {
        "ana@example.com": "Ana María",
        "bob@example.com": 'Bob "The Builder"',
        "existing@example.com": "New Name",
        "gone@example.com": "Gone Person",  # the file had no name: the old one stays
        "carol@example.com": "Carol; with semicolon",
        "dave@example.com": "Dave Second line",
        "eve@example.com": "",
    }
    gone = Contact.objects.get(subaccount=subaccount, email="gone@example.com")
    assert gone.unsubscribed is True
    assert gone.unsubscribed_at == UNSUBSCRIBED_AT
    elsewhere.refresh_from_db()
    assert elsewhere.name == "X"
    assert result.content == b""  # the upload is not kept once imported
    assert result.finished_at is not None


def test_an_import_never_resubscribes_even_with_a_name(subaccount, contact_list):
    ContactFactory(
        subaccount=subaccount,
        email="gone@example.com",
        unsubscribed=True,
        unsubscribed_at=UNSUBSCRIBED_AT,
    )

    result = run_import(contact_list, b"email,name\nGONE@example.com,Back Again\n")

    gone = Contact.objects.get(subaccount=subaccount, email="gone@example.com")
    assert (gone.name, gone.unsubscribed, gone.unsubscribed_at) == (
        "Back Again",
        True,
        UNSUBSCRIBED_AT,
    )
    assert (result.created_count, result.updated_count) == (0, 1)
    assert list_emails(contact_list) == {"gone@example.com"}


def test_importing_the_same_file_twice_merges(subaccount, contact_list):
    first = run_import(contact_list, b"a@example.com,A\nb@example.com,B\n")
    second = run_import(contact_list, b"a@example.com,A\nb@example.com,B\n")

    assert (first.created_count, first.updated_count) == (2, 0)
    assert (second.created_count, second.updated_count) == (0, 2)
    assert Contact.objects.filter(subaccount=subaccount).count() == 2
    assert ListMembership.objects.filter(contact_list=contact_list).count() == 2


@pytest.mark.parametrize(
    "content",
    [
        b"Name,Email\nAna,ana@example.com\n",
        b"NOMBRE;CORREO\nAna;ana@example.com\n",
        b'"Email Address","Full name","City"\n"ana@example.com","Ana","Madrid"\n',
    ],
    ids=["name-first", "spanish-semicolons", "quoted-with-extra-column"],
)
def test_header_row_is_detected_in_any_order_and_case(contact_list, content):
    result = run_import(contact_list, content)

    assert (result.total_rows, result.created_count, result.invalid_count) == (1, 1, 0)
    assert Contact.objects.get(email="ana@example.com").name == "Ana"


def test_without_header_the_first_row_is_a_contact(contact_list):
    result = run_import(contact_list, b"ana@example.com,Ana\r\nbob@example.com,Bob\r\n")

    assert (result.total_rows, result.created_count) == (2, 2)
    assert Contact.objects.get(email="ana@example.com").name == "Ana"


def test_a_first_row_that_is_neither_header_nor_contact_is_an_error(contact_list):
    result = run_import(contact_list, b"foo,bar\nana@example.com,Ana\n")

    assert (result.total_rows, result.created_count, result.invalid_count) == (2, 1, 1)
    assert result.errors == [{"line": 1, "reason": "“foo” is not a valid email address"}]


def test_comma_inside_quotes_does_not_fool_the_delimiter(contact_list):
    result = run_import(
        contact_list, b'"Doe, Jane";jane@example.com\n"Roe, Rick";rick@example.com\n'
    )

    # The email is in column 2 here, without a header: column 1 must be the email.
    assert result.invalid_count == 2
    result = run_import(contact_list, b'jane@example.com;"Doe, Jane"\n')
    assert Contact.objects.get(email="jane@example.com").name == "Doe, Jane"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("josé@example.com;José\n".encode("cp1252"), "not UTF-8"),
        (b"", "empty"),
        (b"\r\n\r\n  \n", "empty"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "not a CSV file"),
        (b"Email,Name\n\n", "header row but no contacts"),
    ],
    ids=["latin-1", "empty", "blank-lines", "spreadsheet", "header-only"],
)
def test_unreadable_file_fails_with_a_message_and_imports_nothing(contact_list, content, message):
    result = run_import(contact_list, content)

    assert result.status == ContactImport.Status.FAILED
    assert message in result.failure
    assert (result.created_count, result.processed_rows) == (0, 0)
    assert Contact.objects.count() == 0
    assert result.content == b""


def test_parser_reports_file_errors_directly():
    with pytest.raises(CsvFileError, match="not UTF-8"):
        contacts_csv_parse(b"\xff\xfeoops")


def test_import_runs_once_even_if_the_task_is_delivered_twice(contact_list):
    result = run_import(contact_list, b"a@example.com\n")

    contact_import_run_task(result.pk)  # a redelivered task
    assert services.contact_import_run(contact_import_id=result.pk).created_count == 1
    assert ContactImport.objects.get(pk=result.pk).created_count == 1


def test_progress_moves_chunk_by_chunk(monkeypatch, contact_list):
    monkeypatch.setattr(services, "CONTACT_IMPORT_CHUNK_SIZE", 2)
    seen = []
    merge = services._contacts_merge_chunk

    def spy(**kwargs):
        seen.append(ContactImport.objects.values_list("processed_rows", flat=True).get())
        return merge(**kwargs)

    monkeypatch.setattr(services, "_contacts_merge_chunk", spy)
    content = b"email\nbad\n" + b"".join(b"p%d@example.com\n" % i for i in range(5))

    result = run_import(contact_list, content)

    # The invalid row is done once the file is read; then 2, 2 and 1 contacts a chunk.
    assert seen == [1, 3, 5]
    assert (result.processed_rows, result.total_rows, result.created_count) == (6, 6, 5)


def test_a_crash_halfway_fails_the_import_and_keeps_what_was_committed(monkeypatch, contact_list):
    monkeypatch.setattr(services, "CONTACT_IMPORT_CHUNK_SIZE", 2)
    merge = services._contacts_merge_chunk
    calls = []

    def second_chunk_fails(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return merge(**kwargs)

    monkeypatch.setattr(services, "_contacts_merge_chunk", second_chunk_fails)
    content = b"".join(b"p%d@example.com\n" % i for i in range(5))

    with pytest.raises(RuntimeError):  # the worker logs it
        run_import(contact_list, content)

    contact_import = ContactImport.objects.get()
    assert contact_import.status == ContactImport.Status.FAILED
    assert "unexpected error" in contact_import.failure
    assert (contact_import.processed_rows, contact_import.created_count) == (2, 2)
    assert len(list_emails(contact_list)) == 2

    # The same file again: completes it, no duplicates.
    monkeypatch.setattr(services, "_contacts_merge_chunk", merge)
    again = run_import(contact_list, content)
    assert (again.created_count, again.updated_count) == (3, 2)
    assert len(list_emails(contact_list)) == 5


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the import catches it, as nothing survives a SIGKILL."""


def test_an_import_whose_worker_died_resumes_after_its_last_chunk(
    monkeypatch, contact_list, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "CONTACT_IMPORT_CHUNK_SIZE", 2)
    merge = services._contacts_merge_chunk
    chunks = []

    def killed_at_third_chunk(**kwargs):
        chunks.append([email for email, _ in kwargs["rows"]])
        if len(chunks) == 3:
            raise WorkerKilled  # before the chunk's transaction writes anything
        return merge(**kwargs)

    monkeypatch.setattr(services, "_contacts_merge_chunk", killed_at_third_chunk)
    content = b"email\nbad\np0@example.com\n" + b"".join(
        b"p%d@example.com\n" % i for i in range(7)
    )  # one invalid row, one repeated, 7 contacts
    with pytest.raises(WorkerKilled):
        run_import(contact_list, content)
    stuck = ContactImport.objects.get()
    assert (stuck.status, stuck.processed_rows, stuck.created_count) == ("running", 6, 4)

    # While its heartbeat lasts, the import is left alone; once it expires, it is queued again.
    assert services.contact_imports_recover() == []
    cache.delete(f"{services.CONTACT_IMPORT_ALIVE}{stuck.pk}")
    with django_capture_on_commit_callbacks() as queued:
        assert services.contact_imports_recover() == [stuck.pk]
    assert ContactImport.objects.get().status == "pending"
    contact_import_run_task(stuck.pk)  # what the queued task does

    done = ContactImport.objects.get()
    assert len(queued) == 1
    assert (done.status, done.total_rows, done.processed_rows) == ("done", 9, 9)
    assert (done.created_count, done.updated_count, done.invalid_count) == (7, 0, 1)
    assert len(list_emails(contact_list)) == 7
    # After the restart the import went on from the third chunk; the first two were not redone.
    assert chunks == [
        ["p0@example.com", "p1@example.com"],
        ["p2@example.com", "p3@example.com"],
        ["p4@example.com", "p5@example.com"],  # killed
        ["p4@example.com", "p5@example.com"],
        ["p6@example.com"],
    ]


def test_a_pending_import_whose_task_was_lost_is_queued_again_once(
    contact_list, django_capture_on_commit_callbacks
):
    contact_import = services.contact_import_create(
        contact_list=contact_list, file_name="a.csv", content=b"a@example.com\n", actor=None
    )
    assert services.contact_imports_recover() == []  # young: its task is probably queued
    later = timezone.now() + services.CONTACT_IMPORT_REQUEUE_AFTER + timedelta(seconds=1)
    with django_capture_on_commit_callbacks() as queued:
        assert services.contact_imports_recover(now=later) == [contact_import.pk]
        assert services.contact_imports_recover(now=later) == []  # not twice in a row
    assert len(queued) == 1


def test_100000_rows_import_in_under_30_seconds(subaccount, contact_list):
    rows = 100_000
    content = b"Email,Name\n" + b"".join(
        b"person%d@example.com,Person %d\n" % (i, i) for i in range(rows)
    )
    contact_import = services.contact_import_create(
        contact_list=contact_list, file_name="big.csv", content=content, actor=None
    )

    started = time.perf_counter()
    services.contact_import_run(contact_import_id=contact_import.pk)
    elapsed = time.perf_counter() - started

    print(f"\n100,000-row CSV import: {elapsed:.1f} s")
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.DONE
    assert contact_import.created_count == rows
    assert ListMembership.objects.filter(contact_list=contact_list).count() == rows
    assert elapsed < 30
