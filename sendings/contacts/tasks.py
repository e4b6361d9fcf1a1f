"""Celery tasks: thin. Each takes ids, and a service does the work."""

import logging

from celery import shared_task

from sendings.contacts import services
from sendings.models import ContactImport

log = logging.getLogger(__name__)


# Named as when they lived in sendings/tasks.py: queued and scheduled tasks keep working.
@shared_task(name="sendings.tasks.contact_import_run_task", ignore_result=True)
def contact_import_run_task(contact_import_id: int) -> None:
    """Import an uploaded CSV; a no-op if the import is gone or already started."""
    pending = ContactImport.objects.filter(
        pk=contact_import_id, status=ContactImport.Status.PENDING
    ).exists()
    if not pending:
        return
    services.contact_import_run(contact_import_id=contact_import_id)


@shared_task(name="sendings.tasks.recover_contact_imports", ignore_result=True)
def recover_contact_imports() -> None:
    """Beat: imports whose worker died, or whose task was lost, are queued again."""
    requeued = services.contact_imports_recover()
    if requeued:
        log.warning("Contact imports queued again: %s", ", ".join(map(str, requeued)))
