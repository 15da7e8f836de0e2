"""Settings for the LTP Labs API gateway, read from the environment only.

Development defaults apply only with DJANGO_DEBUG=1; anywhere else a missing secret
stops start-up with a sentence naming it.
"""

import hashlib
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ltplabs import signing_keys
from ltplabs.env import env, env_bool, env_int, not_set, postgres_database, secret, sqlite_path

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret("DJANGO_SECRET_KEY", "dev-only-insecure-django-secret-key-do-not-deploy", debug=DEBUG, min_length=50)
# ES256 keys (PEM, current first) when given; else HS256 with JWT_SECRET, which is then checked
# (clients.api.tokens signs and verifies with whichever it is). Commands that never sign or check
# a token (prune, backup, initdb) run without either, so that their pods hold no key: serving
# (ltplabs/wsgi.py, gunicorn.conf.py), `check --deploy` and the token backend refuse instead.
_signing_pem = secret("JWT_SIGNING_KEY", "", debug=DEBUG, required=False)
JWT_SIGNING_KEYS = signing_keys.parse(_signing_pem) if _signing_pem else []
JWT_SECRET = secret(
    "JWT_SECRET", "dev-only-insecure-jwt-secret-do-not-deploy", debug=DEBUG, min_length=0 if JWT_SIGNING_KEYS else 32, unit="bytes",
    required=False,
)  # fmt: skip
JWT_KEYS_MISSING = None if JWT_SIGNING_KEYS or JWT_SECRET else not_set("JWT_SECRET", "JWT_SIGNING_KEY")
JWT_ISSUER = env("JWT_ISSUER", "ltplabs-gateway")

ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("DJANGO_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "clients.apps.LTPLabsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "clients",
    "health",
    "database",
    "axes",
    # The staff second factor (clients.second_factor): TOTP devices and backup codes.
    "django_otp",
    "clients.apps.SecondFactorConfig",  # django_otp.plugins.otp_totp, with a name
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "ltplabs.http.middleware.RequestIDMiddleware",
    # Counts every answer of the chain below (off unless METRICS_TOKEN is set).
    "ltplabs.http.metrics.MetricsMiddleware",
    # Right after the request id, so the access line times the whole chain and sees every answer.
    "ltplabs.http.access_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The admin's sessions, user and messages; skipped for /api/, whose requests carry a bearer
    # token and no cookie (ltplabs.http.middleware.browser_only). CSRF stays Django's own, for all.
    "ltplabs.http.middleware.SessionMiddleware",
    # The admin's language (its switch, else the browser's Accept-Language); the API stays English.
    "ltplabs.http.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "ltplabs.http.middleware.AuthenticationMiddleware",
    # request.user.otp_device: the device this admin session signed in with (django-otp).
    "ltplabs.http.middleware.OTPMiddleware",
    "ltplabs.http.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ltplabs.urls"
WSGI_APPLICATION = "ltplabs.wsgi.application"
# GET /health, the probe: ltplabs/wsgi.py answers it with this bare WSGI application, past
# Django's handler and middleware (it is also what health's own /health route runs).
HEALTH_APPLICATION = "health.views.health_application"

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
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------
# DATABASE_URL (file:/data/ltplabs.db, sqlite:////data/ltplabs.db or postgres://…) wins
# over DATABASE_PATH. SQLite goes through ltplabs.sqlite, which runs the init pragmas on
# every connection and never creates a missing file.
DATABASE_READ_ONLY = env_bool("DATABASE_READ_ONLY", False)
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -64000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)
# Process-wide, not per connection: SQLite hands back cached pages once a worker's SQLite
# memory passes this, so a worker stays under its ~100 MB budget on a 1,000,000-client file
# (135 MB without it, 85 MB with it, and pages no slower: the file stays in the kernel's page
# cache; bench/README.md). cache_size stays the database component's -64000 per connection.
# 0: no limit.
SQLITE_SOFT_HEAP_LIMIT_MB = env_int("SQLITE_SOFT_HEAP_LIMIT_MB", 12)
# WAL pages after which a committing connection copies the WAL back into the file (SQLite's
# default: 1000, 4 MB). Each of those checkpoints ends with an fsync of the file; under a
# stream of creates, 4000 (16 MB of WAL) gave ~10 % more of them a second for the same
# durability (bench/README.md). Other programs keep their own setting.
SQLITE_WAL_AUTOCHECKPOINT = env_int("SQLITE_WAL_AUTOCHECKPOINT", 4000)


def database_from_env() -> dict:
    url = env("DATABASE_URL")
    if url.startswith(("postgres://", "postgresql://")):
        return postgres_database(url)
    return {
        "ENGINE": "ltplabs.sqlite",
        "NAME": sqlite_path(url, env("DATABASE_PATH", str(BASE_DIR / "data" / "ltplabs.db"))),
        # One connection per worker thread, kept for the life of the process.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "init_command": "; ".join(
                SQLITE_PRAGMAS
                + (
                    f"PRAGMA soft_heap_limit = {SQLITE_SOFT_HEAP_LIMIT_MB * 1_000_000}",
                    f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT}",
                )
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 5,
            "read_only": DATABASE_READ_ONLY,
        },
    }


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# How many proxies in front append to X-Forwarded-For (ltplabs.http.address.client_address).
NUM_PROXIES = env_int("DJANGO_NUM_PROXIES", 0)

# --- Auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Admin sign-in: django-axes asks clients.admin.lockout, which counts with the very counters of
# POST /api/auth/token (clients.signin): one set of counters and one lockout for both, shared
# through CACHE_URL, on the address ltplabs.http.address.client_address gives.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_HANDLER = "clients.admin.lockout.SignInLimitHandler"
AXES_ONLY_ADMIN_SITE = True
AXES_CLIENT_IP_CALLABLE = "ltplabs.http.address.client_address"
AXES_LOCKOUT_CALLABLE = "clients.admin.lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # its admin pages list the database handler's rows, which this handler never writes
# The staff second factor (clients.second_factor): off, optional (staff with a confirmed TOTP
# device must give a code) or required (every staff sign-in needs a confirmed device).
STAFF_2FA = env("STAFF_2FA", "optional")
if STAFF_2FA not in ("off", "optional", "required"):
    raise ImproperlyConfigured(f"STAFF_2FA must be off, optional or required, not {STAFF_2FA!r}.")
OTP_TOTP_ISSUER = "LTP Labs"
# Device pages never show a TOTP key or a backup code, not even to a superuser.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Admin sessions in django_session under a hash of their key (ltplabs.http.sessions). A read-only
# file cannot take a session row: sessions then live in signed cookies.
SESSION_ENGINE = "ltplabs.http.sessions"
if DATABASE_READ_ONLY:
    SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

# Client passwords: bare bcrypt "$2b$" hashes, as demo-service verifies them.
# How long an Idempotency-Key's first answer is kept and replayed (the contract's 24 h).
IDEMPOTENCY_HOURS = env_int("IDEMPOTENCY_HOURS", 24)

BCRYPT_ROUNDS = env_int("BCRYPT_ROUNDS", 12)
if BCRYPT_ROUNDS < 10 or BCRYPT_ROUNDS > 15:
    raise ImproperlyConfigured("BCRYPT_ROUNDS must be between 10 and 15.")

LANGUAGE_CODE = "en"
# The admin and the landing page in English and European Portuguese (locale/pt_PT, compiled .mo
# committed beside its .po); dates and numbers follow the language chosen.
LANGUAGES = [("en", "English"), ("pt-pt", "Português")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Request bodies: 1 MB at most (413 past that).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000


def default_cache_dir(project: Path, database: dict, kind: str = "cache") -> Path:
    """A tmp folder of this installation's own: one per project folder and database, so that two
    checkouts (or one checkout on two files) on a host never share throttle and lockout counters
    (or metrics files)."""
    where = database["NAME"] if database["ENGINE"] == "ltplabs.sqlite" else f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
    digest = hashlib.sha256(f"{project.resolve()}\n{where}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ltplabs-gateway-{kind}-{digest}"


# Throttle counters, sign-in lockouts and revocations: CACHE_URL=redis://… (every replica shares
# one Redis), CACHE_URL=db (Django's cache table in the database, made by initdb/migrate), or
# unset: files in a tmp folder the workers of one pod share (one replica on SQLite).
CACHE_URL = env("CACHE_URL")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "db":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be redis://host:port/db or db, not {CACHE_URL!r}.")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env("DJANGO_CACHE_DIR") or str(default_cache_dir(BASE_DIR, DATABASES["default"])),
        }
    }

# --- Metrics (ltplabs/metrics.py) --------------------------------------------------------
# GET /metrics answers 404, and nothing is counted per request, unless METRICS_TOKEN is set.
METRICS_TOKEN = env("METRICS_TOKEN")
# The workers' metrics files (prometheus-client's multiprocess mode): gunicorn.conf.py empties
# this folder as gunicorn starts and exports it to the workers. One per pod, like the cache.
METRICS_DIR = Path(env("PROMETHEUS_MULTIPROC_DIR") or default_cache_dir(BASE_DIR, DATABASES["default"], "metrics"))

# --- REST API --------------------------------------------------------------------------
API_MAX_PAGE_SIZE = 1000
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clients.api.authentication.StaffJWTAuthentication",
        "clients.api.authentication.ApiKeyAuthentication",  # programs (clients/api_keys.py)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clients.api.permissions.StaffModelPermissions"],
    "DEFAULT_PARSER_CLASSES": ["ltplabs.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["ltplabs.api.renderers.ORJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "ltplabs.api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ltplabs.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "staff_login": env("THROTTLE_STAFF_LOGIN", "10/min"),
        "client_login_email": env("THROTTLE_CLIENT_LOGIN_EMAIL", "5/min"),
        # Both sign-in routes and the admin's form (clients.signin): per address across accounts,
        # per account across addresses.
        "login_address": env("THROTTLE_LOGIN_ADDRESS", env("THROTTLE_CLIENT_LOGIN_ADDRESS", "30/min")),
        "login_account": env("THROTTLE_LOGIN_ACCOUNT", "50/hour"),
    },
    # DRF's own throttles ask ltplabs.http.address.client_address's question the same way.
    "NUM_PROXIES": NUM_PROXIES,
}

# A refresh chain ends this long after the sign-in that started it (clients.api.auth_views).
JWT_SESSION_MAX_HOURS = env_int("JWT_SESSION_MAX_HOURS", 168)
# The algorithm, keys, `iss` and per-kind `aud` are clients.api.tokens.GatewayTokenBackend's.
SIMPLE_JWT = {
    "ALGORITHM": "ES256" if JWT_SIGNING_KEYS else "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env_int("JWT_REFRESH_HOURS", 24)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
    "USER_AUTHENTICATION_RULE": "clients.api.authentication.staff_may_sign_in",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LTP Labs API gateway",
    "DESCRIPTION": "Clients, their demo access and the audit trail of ltplabs.db.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
}

# --- HTTPS (behind the ingress) --------------------------------------------------------
DJANGO_TLS = env_bool("DJANGO_TLS", not DEBUG)
if DJANGO_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # The kubelet probes speak plain HTTP to the pod, and so may a verifier in the cluster fetching
    # the public keys (nothing secret in them).
    SECURE_REDIRECT_EXEMPT = [r"^health(/.*)?$", r"^\.well-known/jwks\.json$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Logging: one stdout handler, one JSON object a line --------------------------------
# DJANGO_ACCESS_LOG=0 drops the per-request access line (ltplabs.http.access_log.RequestLogMiddleware).
ACCESS_LOG = env_bool("DJANGO_ACCESS_LOG", True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ltplabs.logging.JSONFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Replaces Django's default console handler, which would print the same records again on stderr.
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.request": {"level": "ERROR"},
        # django-axes announces itself at every start, in every management command's output too.
        "axes.apps": {"level": "WARNING"},
    },
}
