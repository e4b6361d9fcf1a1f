import pytest

from tests.smtp_sink import SmtpSink
from tests.workers import WorkerPool, broker_flush, database_url


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def workers(transactional_db, sink, tmp_path, request):
    """Real Celery worker processes on the test database, mailing into `sink`.

    Declared after transactional_db, so they are stopped before the tables are flushed.
    Their logs are printed if the test fails.
    """
    broker_flush()
    pool = WorkerPool(log_dir=tmp_path, database=database_url(), email_port=sink.port)
    yield pool
    pool.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for worker in pool.workers:
            print(f"----- {worker.name} log (tail) -----\n{worker.output()[-4000:]}")
