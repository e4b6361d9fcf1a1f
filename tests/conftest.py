import functools
import sys

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.utils import translation

from batches import pausing, unsubscribing
from batches import services as batch_services
from config.celery import app as celery_app
from sendings import followups
from sendings import services as sending_services
from sendings.models import Membership
from sendings.retention import services as retention_services
from support import services as support_services
from tests.catalogs import compile_stale_catalogs
from tests.factories import MembershipFactory, SubaccountFactory, UserFactory
from tests.invariants import assert_counts_add_up
from tests.smtp_sink import SmtpSink
from tests.workers import WorkerPool, broker_flush, database_url

OUR_PACKAGES = {"sendings", "batches", "support", "tests"}
SERVICES = {
    sending_services: ["sending_confirm", "sending_cancel", "sending_stop"],
    followups: ["sending_resend_create", "sending_correction_create", "sending_unschedule"],
    batch_services: [
        "batch_cancel",
        "batch_start",
        "batch_finish",
        "recipients_record_results",
        "recipients_claim",
        "recipients_release",
        "recipients_release_stale",
        "recipients_cancel_catch_up",
        "recipients_cancel_catch_up_slice",
        "recipients_cancel_catch_up_all",
    ],
    pausing: ["batch_resume"],
    retention_services: ["recipients_purge_expired"],
    unsubscribing: ["recipients_cancel_unsubscribed"],
    support_services: [
        "ticket_file",
        "ticket_stop_sending",
        "ticket_decline",
        "ticket_resume_sending",
        "ticket_outcome_settle",
    ],
}


def pytest_sessionstart(session):
    """Django reads compiled catalogs (.mo), which are built from locale/*.po, not committed."""
    compile_stale_catalogs()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in LANGUAGE_CODE: a request in Spanish leaves its language active in
    the thread (Django activates one per request and never resets it)."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """PBKDF2 costs ~1 s a user on this machine; tests need no such strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _static_files_without_collectstatic():
    """Production serves a hashed manifest built by collectstatic; tests serve the sources."""
    from django.conf import settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(
        STORAGES=storages, WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True
    ):
        yield


@pytest.fixture(autouse=True)
def _invariants_after_every_service_call(request, monkeypatch):
    """Wrap every lifecycle service so invariant 1 is checked after each call, refused or not."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return

    def checked(service):
        @functools.wraps(service)
        def wrapper(*args, **kwargs):
            try:
                return service(*args, **kwargs)
            finally:
                assert_counts_add_up()

        return wrapper

    # Every module that imported a service by name gets the checked one too, so callers
    # need not go through the service's module for the check to apply.
    ours = [
        module
        for name, module in list(sys.modules.items())
        if module is not None and name.split(".")[0] in OUR_PACKAGES
    ]
    for module, names in SERVICES.items():
        for name in names:
            service = getattr(module, name)
            wrapped = checked(service)
            for holder in ours:
                for attribute, value in list(vars(holder).items()):
                    if value is service:
                        monkeypatch.setattr(holder, attribute, wrapped)
    yield


@pytest.fixture
def eager_tasks():
    """Tasks queued on commit run right away, in the test's thread."""
    # Services queue tasks by name: the task modules must be loaded to run them here.
    celery_app.loader.import_default_modules()
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Stop signals live in a cache; one test's batch ids must not leak into the next."""
    from django.core.cache import caches

    for backend in caches.all():
        backend.clear()
    yield


# --- Real worker processes and an SMTP sink, for the end-to-end tests ---------------------


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


# --- Personas: the subaccount's marketer and viewer, a marketer elsewhere, support staff ---


@pytest.fixture
def subaccount(db):
    return SubaccountFactory(name="Spain", account__name="Acme Marketing")


@pytest.fixture
def marketer(subaccount):
    return MembershipFactory(subaccount=subaccount, user__username="marketer").user


@pytest.fixture
def viewer(subaccount):
    return MembershipFactory(
        subaccount=subaccount, user__username="viewer", role=Membership.Role.VIEWER
    ).user


@pytest.fixture
def other_subaccount(db):
    return SubaccountFactory(name="Elsewhere")


@pytest.fixture
def outsider(other_subaccount):
    return MembershipFactory(subaccount=other_subaccount, user__username="outsider").user


@pytest.fixture
def support_user(db):
    user = UserFactory(username="support", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="support")[0])
    return user


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
