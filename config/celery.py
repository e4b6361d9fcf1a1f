import os
from pathlib import Path

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sendings_dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Sub-packages of an app are not found by the default discovery.
app.autodiscover_tasks(
    ["sendings.contacts", "sendings.outbox", "sendings.retention", "sendings.wizard"]
)


@app.on_after_configure.connect
def _beat_schedule(sender, **kwargs):
    # Read from Django settings here, not at import, so the environment decides the tick.
    from django.conf import settings

    tick = settings.DISPATCH_TICK_SECONDS
    sender.conf.beat_schedule = {
        "dispatch-due-batches": {
            "task": "batches.tasks.dispatch_due_batches",
            "schedule": tick,
            # A tick nobody ran in time is worthless: the next one covers the same batches.
            "options": {"expires": max(tick * 5, 5)},
        },
        "recover-deliveries": {
            "task": "batches.tasks.recover_deliveries",
            "schedule": settings.RECOVERY_INTERVAL_SECONDS,
            "options": {"expires": settings.RECOVERY_INTERVAL_SECONDS * 2},
        },
        "catch-up-canceled-recipients": {
            "task": "batches.tasks.cancel_catch_up_sweep",
            "schedule": settings.RECOVERY_INTERVAL_SECONDS,
            "options": {"expires": settings.RECOVERY_INTERVAL_SECONDS * 2},
        },
        "send-owed-notifications": {
            "task": "sendings.outbox.tasks.notifications_send_owed_task",
            "schedule": settings.OUTBOX_INTERVAL_SECONDS,
            "options": {"expires": settings.OUTBOX_INTERVAL_SECONDS * 2},
        },
        "purge-expired-recipients": {
            "task": "sendings.retention.tasks.recipients_purge_expired_task",
            "schedule": settings.RECIPIENT_PURGE_INTERVAL_SECONDS,
            "options": {"expires": settings.RECIPIENT_PURGE_INTERVAL_SECONDS},
        },
        "recover-contact-imports": {
            "task": "sendings.tasks.recover_contact_imports",
            "schedule": settings.RECOVERY_INTERVAL_SECONDS,
            "options": {"expires": settings.RECOVERY_INTERVAL_SECONDS * 2},
        },
    }


@app.on_configure.connect
def _create_filesystem_broker_folders(sender, **kwargs):
    # The filesystem transport (embedded mode) fails on folders that do not exist yet.
    # Read Django's settings: `sender.conf` here would configure the app again, recursively.
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


# Heartbeats for GET /healthz (config/heartbeats.py). Only the beat process ticks.
_beat_process = False


@signals.beat_init.connect
@signals.beat_embedded_init.connect
def _mark_beat_process(sender=None, **kwargs):
    global _beat_process
    _beat_process = True


@signals.before_task_publish.connect
def _beat_tick_heartbeat(sender=None, **kwargs):
    if _beat_process and sender == "batches.tasks.dispatch_due_batches":
        from config.heartbeats import BEAT, heartbeat

        heartbeat(BEAT)


@signals.worker_ready.connect
def _worker_heartbeat(sender=None, **kwargs):
    from django.conf import settings

    from config.heartbeats import worker_heartbeat_start

    worker_heartbeat_start(every=settings.DISPATCH_TICK_SECONDS)
