"""The recipients section of the sending detail page, and its CSV export.

Marketers and viewers of the sending's subaccount; outsiders get 404 from the selectors.
"""

import csv
import io
from collections.abc import Iterator
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET

from sendings import selectors
from sendings.followups import recipients_export_record
from sendings.formatting import long_date
from sendings.models import Sending
from sendings.pages.shell import shell_context
from sendings.recipients import selectors as recipient_selectors
from sendings.recipients.forms import RecipientQueryForm
from sendings.recipients.selectors import FILTER_BY_VALUE, FILTERS

CSV_HEADER = (
    pgettext_lazy("recipients export column", "Email"),
    pgettext_lazy("recipients export column", "Name"),
    pgettext_lazy("recipients export column", "Batch"),
    pgettext_lazy("recipients export column", "Status"),
    pgettext_lazy("recipients export column", "Sent at"),
    pgettext_lazy("recipients export column", "Attempts"),
    pgettext_lazy("recipients export column", "Last error"),
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = "=+-@\t\r"


def _query(params: dict, **changes) -> str:
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v}
    return "?" + urlencode(kept) if kept else "?"


def recipients_removed_note(sending: Sending) -> str:
    """What the section and the export say of a list the retention policy removed."""
    if not sending.recipients_purged:
        return ""
    day = sending.recipients_purged_at.astimezone(sending.subaccount.zone)
    values = {"day": long_date(day)}
    kept = settings.RECIPIENT_RETENTION_DAYS
    if kept:
        return ngettext(
            "The list of recipients was removed on %(day)s under the retention policy: who got "
            "what is kept for %(kept)s day after a sending ends.",
            "The list of recipients was removed on %(day)s under the retention policy: who got "
            "what is kept for %(kept)s days after a sending ends.",
            kept,
        ) % {**values, "kept": kept}
    return gettext("The list of recipients was removed on %(day)s under the retention policy.") % (
        values
    )


def recipients_context(request: HttpRequest, sending: Sending) -> dict:
    """What the detail page's Recipients section shows for the request's filter and page."""
    removed = recipients_removed_note(sending)
    if removed:  # nothing left to page through
        return {"recipients_removed": removed}
    params = RecipientQueryForm(request.GET).values()
    current = FILTER_BY_VALUE[params["status"]]
    base = reverse("sending_detail", args=[sending.identifier])
    export = reverse("recipients_export", args=[sending.identifier])
    unpaged = {"status": params["status"], "q": params["q"]}
    page = recipient_selectors.recipient_page(
        sending=sending,
        filter=current,
        q=params["q"],
        after=params["after"],
        before=params["before"],
    )
    filters = [
        {
            "label": f.label,
            "count": f.count(sending),
            "url": base + _query(unpaged, status=f.value) + "#recipients",
            "current": f is current,
        }
        for f in FILTERS
    ]
    return {
        "recipient_params": params,
        "recipient_filter": current,
        "recipient_filters": filters,
        "recipient_page": page,
        "recipients_url": base,
        "recipients_clear_url": base + _query(unpaged, q="") + "#recipients",
        "recipients_next_url": (
            base + _query(unpaged, after=page.next_after) + "#recipients" if page.next_after else ""
        ),
        "recipients_previous_url": (
            base + _query(unpaged, before=page.previous_before) + "#recipients"
            if page.previous_before
            else ""
        ),
        "recipients_first_url": base + _query(unpaged) + "#recipients",
        "recipients_export_url": export + _query(unpaged),
    }


def _cell(text: str) -> str:
    return "'" + text if text and text[0] in FORMULA_STARTS else text


def _csv_chunks(chunks: Iterator[list[tuple]], zone) -> Iterator[str]:
    """The CSV text, one piece per chunk of rows (a piece per line would cost the server more
    than the CSV itself)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for chunk in chunks:
        writer.writerows(
            (
                _cell(email),
                _cell(name),
                "" if batch is None else batch,
                status,
                sent_at.astimezone(zone).isoformat(timespec="seconds") if sent_at else "",
                attempts,
                _cell(error),
            )
            for email, name, batch, status, sent_at, attempts, error in chunk
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


@login_required
@require_GET
def recipients_export(request: HttpRequest, identifier: str) -> HttpResponse:
    """The recipients of the current filter (and batch, from the batches dialog) as CSV,
    streamed in chunks: memory stays flat for a million rows. The timeline records it."""
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    removed = recipients_removed_note(sending)
    if removed:  # an old link or bookmark: say why, rather than an empty file
        return render(
            request,
            "sendings/recipients_removed.html",
            {**shell_context(request, membership.subaccount), "sending": sending,
             "removed": removed},
            status=410,
        )  # fmt: skip
    params = RecipientQueryForm(request.GET).values()
    current = FILTER_BY_VALUE[params["status"]]
    batch = None
    if params["batch"] is not None:
        batch = selectors.batch_get(sending=sending, number=params["batch"])  # else 404
    recipients_export_record(
        sending=sending,
        actor=request.user,
        status_label=current.label,
        batch_number=batch.number if batch else None,
    )
    chunks = recipient_selectors.recipients_for_export(
        sending=sending, filter=current, q=params["q"], batch_id=batch.pk if batch else None
    )
    name = "-".join(
        part
        for part in (
            sending.identifier,
            "recipients",
            f"batch-{batch.number}" if batch else "",
            current.value or "all",
        )
        if part
    )
    response = StreamingHttpResponse(
        _csv_chunks(chunks, membership.subaccount.zone), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


def recipients_partial_wanted(request: HttpRequest) -> bool:
    """htmx swapping the section (a filter, a search, a page), not restoring history."""
    return (
        bool(request.htmx)
        and not request.htmx.history_restore_request
        and request.htmx.target == "recipients"
    )
