"""Settings, read from the environment. See README.md for the table of variables."""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.env import (
    env_bool,
    env_database,
    env_dkim_key,
    env_email,
    env_float,
    env_header,
    env_int,
    env_language,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
elif not DEBUG and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("replace-me")
):
    # What Django's deploy check asks: a short key can be guessed, and signs sessions.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters (5 or more different ones, not the README's "
        "placeholder) when DEBUG is off; make one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "sendings",
    "batches",
    "support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the cookie, then Accept-Language, then LANGUAGE_CODE; a signed-in user's
    # saved preference (sendings.tenancy.language, after authentication) beats them all.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sendings.tenancy.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Each web and worker process keeps its connection for DATABASE_CONN_MAX_AGE seconds (opening
# one costs PostgreSQL about 7 ms of CPU, more than most pages' queries); Django checks it at
# the start of every request and task, so one cut by a restart is reopened, not failed on.
DATABASES = {
    "default": env_database(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes, attempts kept in the database: no Redis needed to log in).
# After LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# locked out for LOGIN_LOCKOUT_MINUTES; it ends by itself, and a success resets the count.
# Both the site's login and the admin's go through the backend below.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.login.lockout_response"
AXES_USERNAME_CALLABLE = "config.login.attempted_username"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Languages (README, "Languages"): English is the default; the catalogs live in locale/ and
# are compiled by `make messages` / `make run` / `make test` (the .mo files are not committed).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates and numbers per language ("1 dic 2026, 10:00", "1.187"): config/formats/<code>/.
FORMAT_MODULE_PATH = ["config.formats"]
# The language of the emails support receives (a team working in Spanish sets "es").
SUPPORT_LANGUAGE = env_language("SUPPORT_LANGUAGE", LANGUAGE_CODE, LANGUAGES)
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Everything is served from this origin; inline scripts need the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
# Sessions live in the database only: signed-in pages and the support Stop must keep working
# while Redis is down (the cached_db engine fails every request then).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS. Without DEBUG every plain-HTTP request is redirected to HTTPS; behind a proxy that
# terminates TLS, SECURE_PROXY_SSL_HEADER ("X-Forwarded-Proto: https") says which requests
# came in over HTTPS. HSTS is opt-in (SECURE_HSTS_SECONDS): once sent, browsers refuse plain
# HTTP to this host for that long. The health check answers over plain HTTP (probes).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = env_header("SECURE_PROXY_SSL_HEADER")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Email (Django 6.1 MAILERS): SMTP when EMAIL_HOST is set, otherwise one file per
# connection under var/mail, so `make run` needs no mail server.
_email_host = env_str("EMAIL_HOST")
if _email_host:
    _mailer = {
        # Django's SMTP backend; bulk messages skip its per-message header parsing.
        "BACKEND": "batches.mail.BulkEmailBackend",
        "OPTIONS": {
            "host": _email_host,
            "port": env_int("EMAIL_PORT", 25, minimum=1),
            "username": env_str("EMAIL_HOST_USER", ""),
            "password": env_str("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "timeout": env_int("EMAIL_TIMEOUT", 30, minimum=1),
        },
    }
else:
    _mailer = {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
    }
MAILERS = {"default": _mailer}
DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", "sendings@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SUPPORT_EMAIL = env_email("SUPPORT_EMAIL", "soporte@example.com")
# Links in emails (the support notification, outcomes) point here.
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes={"http", "https"}).rstrip("/")

# Cache: carries the workers' stop signal, so it must be shared by every process:
# Redis when REDIS_URL is set, otherwise files under var/cache (embedded mode, one machine).
_redis_url = env_str("REDIS_URL") and env_url("REDIS_URL", "", schemes={"redis", "rediss"})


def _cache(folder: str, **file_options) -> dict:
    """Redis when REDIS_URL is set (failing fast when it is down, never hanging a request or a
    worker), else files under var/<folder>."""
    if _redis_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / folder),
        **({"OPTIONS": file_options} if file_options else {}),
    }


CACHES = {
    "default": _cache("cache"),
    # The workers' stop signals (batches.halt), apart from the pages' cache so that page
    # traffic can never evict them: the same Redis (whose default policy evicts nothing), or
    # a directory of their own that is never culled in practice (one key per stopped batch).
    "signals": _cache("signals", MAX_ENTRIES=1_000_000),
}

# Product rules.
SMALL_SENDING_MAX_RECIPIENTS = env_int("SMALL_SENDING_MAX_RECIPIENTS", 1000, minimum=0)
UNDO_SECONDS = env_int("UNDO_SECONDS", 30, minimum=0)
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 3, minimum=1)
CLAIM_TIMEOUT_SECONDS = env_int("CLAIM_TIMEOUT_SECONDS", 300, minimum=1)
DISPATCH_TICK_SECONDS = env_float("DISPATCH_TICK_SECONDS", 1.0, minimum=0.1)
# Retention: the recipient rows (who got what) of a sending finished more than this many
# days ago are deleted by a beat task, RECIPIENT_PURGE_CHUNK rows per transaction, every
# RECIPIENT_PURGE_INTERVAL_SECONDS; its counts and batches stay. 0 keeps them forever.
RECIPIENT_RETENTION_DAYS = env_int("RECIPIENT_RETENTION_DAYS", 395, minimum=0)
RECIPIENT_PURGE_CHUNK = env_int("RECIPIENT_PURGE_CHUNK", 10_000, minimum=1)
RECIPIENT_PURGE_INTERVAL_SECONDS = env_float("RECIPIENT_PURGE_INTERVAL_SECONDS", 300.0, minimum=1.0)
# Largest contacts CSV a marketer may upload (the file is kept in the database until imported).
CONTACT_IMPORT_MAX_MB = env_int("CONTACT_IMPORT_MAX_MB", 20, minimum=1)
# Test sends (the wizard's step 4) a user may ask for in an hour.
TEST_SENDS_PER_HOUR = env_int("TEST_SENDS_PER_HOUR", 20, minimum=1)

# Delivery (batches.delivery). A worker claims DELIVERY_CHUNK_SIZE recipients at a time and
# records results every DELIVERY_RECORD_EVERY messages (or RECORD_SECONDS), which bounds what a
# killed worker can send twice. A task delivers for DELIVERY_SLICE_SECONDS, then requeues
# itself so due batches and other sendings are not starved behind a large one.
DELIVERY_CHUNK_SIZE = env_int("DELIVERY_CHUNK_SIZE", 500, minimum=1)
DELIVERY_RECORD_EVERY = env_int("DELIVERY_RECORD_EVERY", 200, minimum=1)
DELIVERY_RECORD_SECONDS = env_float("DELIVERY_RECORD_SECONDS", 0.5, minimum=0.01)
DELIVERY_SLICE_SECONDS = env_float("DELIVERY_SLICE_SECONDS", 5.0, minimum=0.1)
DELIVERY_PARALLELISM = env_int("DELIVERY_PARALLELISM", 4, minimum=1)
EMAIL_RETRY_BACKOFF_SECONDS = env_float("EMAIL_RETRY_BACKOFF_SECONDS", 30.0, minimum=0.0)
RECOVERY_INTERVAL_SECONDS = env_float("RECOVERY_INTERVAL_SECONDS", 15.0, minimum=0.1)
# A canceled or stopped batch's recipient rows catch up after the stop committed, this many
# per transaction (batches.services.recipients_cancel_catch_up).
CANCEL_CHUNK_SIZE = env_int("CANCEL_CHUNK_SIZE", 10_000, minimum=1)
# How often beat sends the emails still owed (outbox rows the immediate task did not send).
OUTBOX_INTERVAL_SECONDS = env_float("OUTBOX_INTERVAL_SECONDS", 5.0, minimum=0.1)
# A delivery task renews its lease with every record; one not renewed for this long belongs
# to a dead process, whose claims go back to the queue without waiting CLAIM_TIMEOUT_SECONDS.
DELIVERY_LEASE_SECONDS = env_float("DELIVERY_LEASE_SECONDS", 20.0, minimum=1.0)
# A batch whose failed share of messages goes above AUTO_PAUSE_FAILURE_RATE, once at least
# AUTO_PAUSE_MIN_ATTEMPTS messages were tried, pauses itself and opens a ticket for support
# (1 turns it off: a rate cannot go above it).
AUTO_PAUSE_FAILURE_RATE = env_float("AUTO_PAUSE_FAILURE_RATE", 0.10, minimum=0.0)
if AUTO_PAUSE_FAILURE_RATE > 1:
    raise ImproperlyConfigured(
        f"AUTO_PAUSE_FAILURE_RATE is a share between 0 and 1; got {AUTO_PAUSE_FAILURE_RATE}"
    )
AUTO_PAUSE_MIN_ATTEMPTS = env_int("AUTO_PAUSE_MIN_ATTEMPTS", 200, minimum=1)
# Where List-Unsubscribe mail goes; empty means the sending's own from address.
UNSUBSCRIBE_MAILTO = (
    env_email("UNSUBSCRIBE_MAILTO", "") if env_str("UNSUBSCRIBE_MAILTO", "") else ""
)

# DKIM: every message is signed when all three are set (the DNS record: README, Deliverability).
DKIM_DOMAIN = env_str("DKIM_DOMAIN", "")
DKIM_SELECTOR = env_str("DKIM_SELECTOR", "")
DKIM_PRIVATE_KEY = env_dkim_key("DKIM_PRIVATE_KEY") or ""
if (DKIM_DOMAIN or DKIM_SELECTOR or DKIM_PRIVATE_KEY) and not (
    DKIM_DOMAIN and DKIM_SELECTOR and DKIM_PRIVATE_KEY
):
    raise ImproperlyConfigured(
        "DKIM needs DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY together (or none of them)"
    )
if DKIM_DOMAIN and not (DKIM_DOMAIN.isascii() and DKIM_SELECTOR.isascii()):
    raise ImproperlyConfigured("DKIM_DOMAIN and DKIM_SELECTOR must be ASCII (IDNA for a domain)")

# Celery: the embedded default needs no server (filesystem broker under var/broker).
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "filesystem://", schemes={"filesystem", "redis", "rediss", "memory"}
)
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # The stock transport can hand a consumer a half-written message (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Two queues: "dispatch" (the beat tick, exact-time starts, recovery: short tasks) and
# "delivery" (the long ones). One process may consume both (`make run`); in production a
# worker of its own on "dispatch" keeps batches starting on time while others deliver.
CELERY_TASK_DEFAULT_QUEUE = "dispatch"
# CSV imports take seconds: they go with the long tasks, never ahead of a batch's start.
CELERY_TASK_ROUTES = {
    "batches.tasks.deliver_batch": {"queue": "delivery"},
    # Seconds a slice: a stop's catch-up must not hold up the beat tick.
    "batches.tasks.cancel_catch_up": {"queue": "delivery"},
    "sendings.tasks.contact_import_run_task": {"queue": "delivery"},
    "sendings.retention.tasks.recipients_purge_expired_task": {"queue": "delivery"},
}
CELERY_TIMEZONE = "UTC"
# Beat keeps its schedule in memory: every entry is an interval whose runs are idempotent, so
# there is nothing worth persisting, and the default shelve file (dbm.sqlite3 on Python 3.13)
# fails with "locking protocol" under load.
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Beat sends a tick every second and the worker logs each task twice: at INFO that
    # drowns the dispatcher's own lines ("Dispatch: 1 batches started").
    "loggers": {
        name: {"level": "WARNING"}
        for name in (
            "celery.beat",
            "celery.app.trace",
            "celery.worker.strategy",
            "celery.worker.request",
            # django-axes logs every login attempt's housekeeping at INFO; lock-outs are WARNING.
            "axes",
        )
    },
}
