"""Settings, all from the environment (12-factor). See README "Configuration".

Without configuration: SQLite in ./var, tasks executed in-process, e-mail to the console
(`make demo` sets up more: see scripts/demo.py).
Production (DEBUG off) requires real secrets and turns on the secure-cookie/HSTS settings.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The demo adds a "pick a demo user" sign-in page. Never allowed with DEBUG off.
DEMO_MODE = env.bool("DEMO_MODE", default=False)
if DEMO_MODE and not DEBUG:
    raise ImproperlyConfigured("DEMO_MODE is for local trials only; it requires DEBUG=1.")
# What `make demo` (scripts/demo.py) started and what it could not; the home page shows it.
DEMO_STATUS = env.json("DEMO_STATUS", default={}) if DEMO_MODE else {}

if DEBUG:
    SECRET_KEY = env(
        "SECRET_KEY", default="insecure-demo-key-only-for-local-development-0123456789"
    )
else:
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_htmx",
    "django_celery_beat",
    "django_guid",
    "portal",
    "tenants",
    "approvals",
    "catalogue",
    "keys",
    "projects",
    "costs",
    "pipelines",
    "modelaccess",
    "api",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "api.middleware.RefuseNulMiddleware",  # 400 for a NUL anywhere in an API request
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "django.template.context_processors.i18n",
                "portal.context_processors.navigation",
            ],
        },
    },
]

(BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'portal.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # a break-glass superuser (audited)
    "allauth.account.auth_backends.AuthenticationBackend",
    "tenants.permissions.InfraPermissionBackend",  # infra's admin rights, not superuser
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# --- Sign-in: Microsoft Entra ID only (allauth's OpenID Connect provider) -------------------
# Entra ID's own settings, and those of LiteLLM, Langfuse, Slack, Teams and the periodic jobs,
# are in portal/integration_settings.py (imported here, once .env above is read).
from .integration_settings import *  # noqa: E402,F403

SOCIALACCOUNT_ONLY = True  # no local passwords; the admin superuser signs in at /admin/
ACCOUNT_EMAIL_VERIFICATION = "none"
# People are matched on their Entra object id only. An e-mail address (like a UPN) passes
# to a new person when someone leaves, so it is not unique here and nobody signs in with it.
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*"]
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # match on the Entra object id, never on e-mail
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ADAPTER = "tenants.entra.EntraAccountAdapter"

# Secrets handed over once (virtual keys, Langfuse keys) are kept Fernet-encrypted until revealed.
# SECRETS_FERNET_KEYS: comma-separated, newest first (encrypt with the first, decrypt with any);
# SECRETS_FERNET_KEY: one key. Production refuses to start without a valid key; only the
# demo (DEBUG) derives one from SECRET_KEY when none is set.
SECRETS_FERNET_KEYS = env.list("SECRETS_FERNET_KEYS", default=[]) or [
    k for k in [env("SECRETS_FERNET_KEY", default="").strip()] if k
]


def _check_fernet_keys(keys: list[str]) -> None:
    from cryptography.fernet import Fernet

    if not keys and not DEBUG:
        raise ImproperlyConfigured(
            "Set SECRETS_FERNET_KEY (or SECRETS_FERNET_KEYS) to a Fernet key; create one with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`.'
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"Fernet key number {position} in SECRETS_FERNET_KEYS/SECRETS_FERNET_KEY is not "
                "a valid Fernet key (32 url-safe base64-encoded bytes)."
            ) from None


_check_fernet_keys(SECRETS_FERNET_KEYS)

# --- Celery: Redis in production; without REDIS_URL tasks run in-process (demo) -----------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = not (REDIS_URL or env("CELERY_BROKER_URL", default=""))
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers a task whose worker died only after this many seconds; the resume job
# (approvals.tasks.resume_stalled) picks such work up sooner, from the database.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
# The key form's cost estimate without 30 days of the developer's own use: a reference month
# of input and output tokens (said on the form).
ESTIMATE_REFERENCE_TOKENS = (
    env.int("ESTIMATE_REFERENCE_INPUT_TOKENS", default=2_000_000),
    env.int("ESTIMATE_REFERENCE_OUTPUT_TOKENS", default=500_000),
)

CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="portal")

# --- Cache and sessions ------------------------------------------------------------------
# Redis in production (shared by every web process); per-process memory in the demo.
CACHE_URL = env("CACHE_URL", default=REDIS_URL)
CACHES = {
    "default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Sessions are read from the cache and written to the database only when they change: pages
# cost no session query, and a session can still be ended server-side (sign-out, leavers).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Without a shared cache (the demo without Redis) the scheduler's process could not move the
# versions the web process caches pages under: nothing is cached then.
NAV_CACHE_SECONDS = env.int("NAV_CACHE_SECONDS", default=15 if CACHE_URL else 0)

# --- Metrics (Prometheus) ------------------------------------------------------------------
# GET /metrics answers only with "Authorization: Bearer $METRICS_TOKEN" (404 when unset).
# With several processes (gunicorn, prefork workers) set PROMETHEUS_MULTIPROC_DIR to an
# empty writable directory. Workers serve their own figures on WORKER_METRICS_PORT (0: off).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
if env("PROMETHEUS_MULTIPROC_DIR", default=""):  # e.g. on an emptyDir: make it if missing
    Path(env("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# --- Mail: console in the demo; EMAIL_URL (smtp://...) in production -----------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="genai-portal@localhost")

# --- Approvals: working hours for SLAs, access reviews -------------------------------------
# Approval SLAs count working hours only: Monday to Friday, from START to END (wall clock in
# TIME_ZONE), minus these dates.
APPROVAL_WORKDAY_START = env("APPROVAL_WORKDAY_START", default="09:00")
APPROVAL_WORKDAY_END = env("APPROVAL_WORKDAY_END", default="18:00")
APPROVAL_HOLIDAYS = env.list("APPROVAL_HOLIDAYS", default=[])  # ISO dates
# Start an access review of every department on the first day of each quarter.
ACCESS_REVIEW_QUARTERLY = env.bool("ACCESS_REVIEW_QUARTERLY", default=False)
ACCESS_REVIEW_DAYS = env.int("ACCESS_REVIEW_DAYS", default=14)
ACCESS_REVIEW_AT_DEADLINE = env("ACCESS_REVIEW_AT_DEADLINE", default="suspend")

# --- i18n: English and Japanese -----------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["portal.formats"]  # unambiguous English short dates
# Who developers contact when something fails (shown on failure messages).
SUPPORT_CONTACT = env("SUPPORT_CONTACT", default="")  # e.g. an e-mail address or chat channel

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security: production turns every switch on -----------------------------------------
# Reverse proxies in front of the portal that append to X-Forwarded-For. 0: the client's
# address is REMOTE_ADDR and X-Forwarded-For is ignored (a client can write anything there).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and the metrics scraper talk plain HTTP to the pod, not through the TLS proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Structured logs: one JSON object per line ------------------------------------------
# Every line carries the request id (X-Request-ID, taken from the proxy or made up); tasks
# enqueued while serving a request log the same id (django-guid's Celery integration).
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {
                "asctime": "ts",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
    },
}
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    # An id that is not a UUID (NGINX's $request_id is one) is replaced: no client text in logs.
    "VALIDATE_GUID": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}
# Workers log through LOGGING above (JSON, with the request id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

PAGE_SIZE = 25

# --- Provisioning and lifecycle ----------------------------------------------------------
PROVISION_MAX_RETRIES = env.int("PROVISION_MAX_RETRIES", default=8)
PROVISION_RETRY_BASE_SECONDS = env.float("PROVISION_RETRY_BASE_SECONDS", default=10)
REMIND_DAYS_BEFORE_EXPIRY = env.int("REMIND_DAYS_BEFORE_EXPIRY", default=7)
# Approved or provisioning requests untouched this long are enqueued again
# (a lost message, a dead worker).
PROVISION_STALL_SECONDS = env.int("PROVISION_STALL_SECONDS", default=600)
# Reconcile: block live keys in managed LiteLLM teams that the portal does not know (else
# they are only reported to infra).
RECONCILE_BLOCK_UNKNOWN_KEYS = env.bool("RECONCILE_BLOCK_UNKNOWN_KEYS", default=False)
# Leavers: days a lead has to unblock a suspended key before it is revoked.
LEAVER_GRACE_DAYS = env.int("LEAVER_GRACE_DAYS", default=30)

# --- Costs ---------------------------------------------------------------------------------
# The lead's and infra's cost figures are cached this long (dropped on every change they show).
COSTS_PAGE_CACHE_SECONDS = env.int("COSTS_PAGE_CACHE_SECONDS", default=300 if CACHE_URL else 0)
COSTS_REREAD_DAYS = env.int("COSTS_REREAD_DAYS", default=3)  # late rows are caught on re-read
COSTS_ALERT_THRESHOLDS = env.list("COSTS_ALERT_THRESHOLDS", cast=int, default=[80, 100])

# --- REST API (/api/v1/) and CLI (the Entra tokens it accepts: integration_settings.py) ------
API_RATE_LIMIT = env("API_RATE_LIMIT", default="120/m")  # per identity (user or service)
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
# --- Pipeline identities: CI jobs trade their OIDC token for a short-lived key ---------------
PIPELINES_LEEWAY_SECONDS = env.int("PIPELINES_LEEWAY_SECONDS", default=60)  # exp/nbf/iat
PIPELINES_ISSUER_TIMEOUT = env.float("PIPELINES_ISSUER_TIMEOUT", default=5.0)
PIPELINES_JWKS_CACHE_SECONDS = env.int("PIPELINES_JWKS_CACHE_SECONDS", default=3600)
# An unknown kid refetches the issuer's JWKS at most this often (seconds, per issuer).
PIPELINES_JWKS_REFETCH_SECONDS = env.int("PIPELINES_JWKS_REFETCH_SECONDS", default=30)
# Issuers are fetched over HTTPS only; the demo's local issuer needs http.
PIPELINES_ALLOW_HTTP_ISSUERS = env.bool("PIPELINES_ALLOW_HTTP_ISSUERS", default=False)
# How long the exchange trusts an identity's spend read from LiteLLM (seconds; 0: every time).
PIPELINES_SPEND_CACHE_SECONDS = env.int("PIPELINES_SPEND_CACHE_SECONDS", default=30)
# Exchanges per source address and per identity.
PIPELINES_RATE_LIMIT = env("PIPELINES_RATE_LIMIT", default="60/m")
# What a requested identity may ask for: a run key's lifetime (seconds), live keys at once.
PIPELINES_MAX_RUN_LIFETIME_SECONDS = env.int("PIPELINES_MAX_RUN_LIFETIME_SECONDS", default=3600)
PIPELINES_MAX_LIVE_KEYS = env.int("PIPELINES_MAX_LIVE_KEYS", default=20)
# The rate limiter's counters must be shared by every web process: Redis where configured.
API_CACHE_URL = env("API_CACHE_URL", default=CACHE_URL)
CACHES["api"] = (
    {"BACKEND": "portal.cache.RedisCache", "LOCATION": API_CACHE_URL}
    if API_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}
)
