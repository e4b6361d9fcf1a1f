"""The Celery app talks to the real Redis broker that `make test` starts."""

import uuid

from django.conf import settings

from config.celery import app


def test_celery_app_round_trips_a_message_through_redis():
    assert settings.CELERY_BROKER_URL.startswith("redis://"), (
        "make test runs the suite against a real Redis broker; set CELERY_BROKER_URL=redis://..."
    )
    queue_name = f"test-{uuid.uuid4().hex}"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        queue = conn.SimpleQueue(queue_name)
        try:
            queue.put({"hello": "redis"})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"hello": "redis"}
        finally:
            queue.queue.delete()
            queue.close()
