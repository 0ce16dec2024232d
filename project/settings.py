"""Settings for Boxoffice, read from the environment (see README, "Configuration").

`project.settings_production` hardens these for a real deployment.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project.database_settings import (
    build_databases,
    build_owners,
    owner_database,
    session_limits,
)

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("BOXOFFICE_RUN_DIR", BASE_DIR / ".run"))


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-local-development-key-never-used-in-production"
)
DEBUG = env_flag("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
]
if not DEBUG:
    ALLOWED_HOSTS = [h for h in ALLOWED_HOSTS if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "project.apps.PlatformConfig",
    "apps.customers",
    "apps.orders",
    "apps.ticketing",
    "apps.bookings",
    "apps.events",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.events.public.context.CorrelationIdMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees what a view raised before Django's 500 page does.
    "project.api.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases: one alias, schema and role per module (docs/architecture.md) ---
DATABASE_OWNER = owner_database(os.environ)
DATABASES = build_databases(os.environ, DATABASE_OWNER)
# The owner login of each alias's server (the same unless a module moved out).
DATABASE_OWNERS = build_owners(os.environ, DATABASE_OWNER, DATABASES)
DATABASE_ROUTERS = ["project.routers.ModuleRouter"]
# statement_timeout, lock_timeout, idle_in_transaction_session_timeout of every
# module role, set by `provision_db` (docs/operations.md, "Time limits").
DATABASE_SESSION_LIMITS = session_limits(os.environ)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

# django-guardian across databases (docs/permissions.md): grants live in `platform`,
# content types are read from `default`, and a grant never loads the object it names.
GUARDIAN_USER_OBJ_PERMS_MODEL = "platform.UserObjectGrant"
GUARDIAN_GROUP_OBJ_PERMS_MODEL = "platform.GroupObjectGrant"
GUARDIAN_GET_CONTENT_TYPE = "project.permissions.content_type_for"
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# A request body above this is refused with 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("BOXOFFICE_MAX_BODY_BYTES", 256 * 1024))

# --- REST API (docs/api.md) ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not logged in" into 401, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "project.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "project.api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "project.api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Boxoffice API",
    "DESCRIPTION": (
        "An online store and a box office, built as a modular monolith. "
        "Errors are RFC 9457 problem+json documents."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery (docs/operations.md) ---
# No CELERY_BROKER_URL: kombu's filesystem transport, which needs no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")


def broker_transport_options(broker_url: str, folder: Path) -> dict[str, object]:
    if not broker_url.startswith("filesystem://"):
        return {}
    return {
        "data_folder_in": str(folder / "messages"),
        "data_folder_out": str(folder / "messages"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        # Exchange tables: kombu's default is `control/` in the working directory.
        "control_folder": str(folder / "control"),
    }


# The filesystem broker's folder: processes that share it share the broker (the
# hosts a test starts, each with a run folder of its own, set it to one).
BROKER_DIR = Path(os.environ.get("BOXOFFICE_BROKER_DIR", RUN_DIR / "broker"))
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, BROKER_DIR)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The filesystem broker lists its whole folder for each queue it polls, and remote
# control (`celery inspect`) is one more queue on every poll of every worker.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_URL.startswith("filesystem://")
# A publishing request must not hang on a dead broker: its kick fails fast instead.
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
# Every module has its own queue for its relay and deliveries (docs/events.md).
# Modules a worker imports beside the apps' tasks (the tests' probe subscriber).
CELERY_INCLUDE = [name for name in os.environ.get("CELERY_INCLUDE", "").split(",") if name]
CELERY_TASK_DEFAULT_QUEUE = "events"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Time limits of every task (docs/operations.md, "Time limits"); 0: none. At the
# soft limit the task gets SoftTimeLimitExceeded (a delivery counts it as its
# message's failure, rolls back and lets go of the subscriber); at the hard one
# its pool process is killed. They sit between the roles' statement_timeout
# (30 s) and idle_in_transaction_session_timeout (60 s).
CELERY_TASK_SOFT_TIME_LIMIT = float(os.environ.get("TASK_SOFT_TIME_LIMIT_SECONDS", "40")) or None
CELERY_TASK_TIME_LIMIT = float(os.environ.get("TASK_TIME_LIMIT_SECONDS", "50")) or None
if (
    CELERY_TASK_SOFT_TIME_LIMIT
    and CELERY_TASK_TIME_LIMIT
    and CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT
):
    raise ImproperlyConfigured(
        "TASK_SOFT_TIME_LIMIT_SECONDS must be below TASK_TIME_LIMIT_SECONDS:"
        " the soft limit is the task's chance to clean up before the hard one"
    )
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "events-sweep": {
        "task": "events.sweep",
        "schedule": float(os.environ.get("EVENTS_SWEEP_SECONDS", "2")),
    },
    "bookings-expire-holds": {
        "task": "bookings.expire_holds",
        "schedule": float(os.environ.get("BOOKING_EXPIRY_SWEEP_SECONDS", "1")),
        "options": {"queue": "bookings", "expires": 30},
    },
}
# Each module's idempotency keys past their retention, purged on its own queue.
IDEMPOTENCY_KEY_RETENTION_SECONDS = float(
    os.environ.get("IDEMPOTENCY_KEY_RETENTION_SECONDS", str(24 * 3600))
)
IDEMPOTENCY_KEYS_MODULES = ("customers", "orders", "ticketing", "bookings")  # a test holds it
IDEMPOTENCY_PURGE_SECONDS = float(os.environ.get("IDEMPOTENCY_PURGE_SECONDS", "3600"))
CELERY_BEAT_SCHEDULE.update(
    {
        f"{module}-purge-idempotency-keys": {
            "task": "platform.purge_idempotency_keys",
            "schedule": IDEMPOTENCY_PURGE_SECONDS,
            "args": (module,),
            # A module's workers down (a move): its queue holds one at most.
            "options": {"queue": module, "expires": min(600.0, IDEMPOTENCY_PURGE_SECONDS)},
        }
        for module in IDEMPOTENCY_KEYS_MODULES
    }
)
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")

# --- Box office (docs/boxoffice.md) ---
# How long seats stay held for a booking that has not been paid for.
BOOKING_HOLD_SECONDS = float(os.environ.get("BOOKING_HOLD_SECONDS", "600"))

# --- Event platform (docs/events.md) ---
EVENTS_MAX_ATTEMPTS = int(os.environ.get("EVENTS_MAX_ATTEMPTS", "5"))
EVENTS_RETRY_BASE_SECONDS = float(os.environ.get("EVENTS_RETRY_BASE_SECONDS", "1"))
EVENTS_RETRY_MAX_SECONDS = float(os.environ.get("EVENTS_RETRY_MAX_SECONDS", "300"))
EVENTS_RELAY_BATCH_SIZE = int(os.environ.get("EVENTS_RELAY_BATCH_SIZE", "1000"))
EVENTS_DELIVERY_BATCH_SIZE = int(os.environ.get("EVENTS_DELIVERY_BATCH_SIZE", "500"))
# A delivery task starts no batch after this many seconds (well inside the soft
# time limit): a long catch-up goes on in the next task.
EVENTS_DELIVERY_TIME_BUDGET = float(os.environ.get("EVENTS_DELIVERY_TIME_BUDGET", "10"))
# Kicks are coalesced through a flag in Redis (apps/events/kicks.py): by default
# the broker's, when the broker is Redis; empty: no coalescing.
if "EVENTS_KICK_REDIS_URL" in os.environ:
    EVENTS_KICK_REDIS_URL = os.environ["EVENTS_KICK_REDIS_URL"]
EVENTS_KICK_TTL_SECONDS = float(os.environ.get("EVENTS_KICK_TTL_SECONDS", "5"))
# Under load a relay or delivery runs at most once per this many seconds, on a
# bigger batch (0: back to back). An idle one runs at once.
EVENTS_KICK_PACE_SECONDS = float(os.environ.get("EVENTS_KICK_PACE_SECONDS", "0.02"))
# 0: relayed outbox rows are deleted at once; otherwise kept this long, then swept.
EVENTS_OUTBOX_RETENTION_SECONDS = float(os.environ.get("EVENTS_OUTBOX_RETENTION_SECONDS", "0"))
# /api/health/ fails when a module's oldest unrelayed message is older than this.
EVENTS_OUTBOX_MAX_AGE_SECONDS = float(os.environ.get("EVENTS_OUTBOX_MAX_AGE_SECONDS", "300"))
# ... fails `subscribers` when one has more than this many messages waiting past
# its checkpoint (counted only this far: the probe stays cheap), and `parked`
# when more than this many are parked in all. Both are reported either way; the
# defaults are high because readiness failing takes every web node out of the
# load balancer, and a backlog or a poison message is the workers' problem
# (docs/operations.md, Health).
EVENTS_HEALTH_MAX_WAITING = int(os.environ.get("EVENTS_HEALTH_MAX_WAITING", "10000"))
EVENTS_HEALTH_MAX_PARKED = int(os.environ.get("EVENTS_HEALTH_MAX_PARKED", "100"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BOXOFFICE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}
