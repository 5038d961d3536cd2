"""GEN_REC settings: one module, every value read from the environment."""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def envbool(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable; a value that is neither (a typo such as "ture") stops the start."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value: use 1/0, true/false, yes/no or on/off.")
    return word in TRUE_WORDS


def envint(name: str, default: int) -> int:
    """Read an integer environment variable."""
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def envfloat(name: str, default: float) -> float:
    """Read a float environment variable."""
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def envlist(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envsecret(name: str) -> str | None:
    """Read a secret from NAME, or from the file named by NAME_FILE (docker secrets)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return None


# The upload pixel limit is OpenCV's own limit too; OpenCV reads it once, when it loads, so it is set here,
# before the pipeline (and with it cv2) is imported below.
GENREC_MAX_IMAGE_PIXELS = envint("GENREC_MAX_IMAGE_PIXELS", 40_000_000)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(GENREC_MAX_IMAGE_PIXELS))

from workers.pipeline.model import default_model_dir, models_root  # noqa: E402

DEBUG = envbool("DEBUG", False)

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode-" + "x" * 20

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "predictions",
    "workers",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "predictions.api_v1.apps.ApiV1Config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "genrec_site.urls"
WSGI_APPLICATION = "genrec_site.wsgi.application"
ASGI_APPLICATION = "genrec_site.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for a lock rather than fail at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    # Tests with a real worker write from several threads: an in-memory database locks whole tables
    # instead of waiting, so the test database is a file (one per test process) like the real one.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"genrec-test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "try"
LOGOUT_REDIRECT_URL = "welcome"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# STATIC_MANIFEST=1 for `collectstatic` and for serving what it collected (the Docker image does both):
# hashed, compressed, forever-cacheable files. Without it (tests, the quick start) files are served straight
# from the finders: the manifest storage refuses to render a page whose static file was never collected, and
# WhiteNoise gets no STATIC_ROOT to look into.
STATIC_MANIFEST = envbool("STATIC_MANIFEST", False)
STATIC_ROOT = BASE_DIR / "staticfiles" if STATIC_MANIFEST else None
# Media (uploads, annotated frames, study videos and reports) goes through Django's storage API:
# GENREC_MEDIA_STORAGE=fs keeps it under MEDIA_ROOT (the quick start, one machine); s3 puts it in a private
# S3-compatible bucket (MinIO in compose), so web, workers and beat share no folder and may run on any host.
GENREC_MEDIA_STORAGE = os.environ.get("GENREC_MEDIA_STORAGE", "fs").strip().lower() or "fs"
if GENREC_MEDIA_STORAGE not in ("fs", "s3"):
    raise ImproperlyConfigured(f"GENREC_MEDIA_STORAGE={GENREC_MEDIA_STORAGE!r}: use fs or s3.")
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "genrec-media")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None  # None: Amazon S3 itself
AWS_ACCESS_KEY_ID = envsecret("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = envsecret("AWS_SECRET_ACCESS_KEY")
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or "us-east-1"
# Objects are private: no ACL is ever sent (the bucket's own policy, private, applies) and every URL is signed
# and short-lived. Workers read videos through such a URL; people never see one.
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = envint("AWS_QUERYSTRING_EXPIRE", 300)
AWS_S3_FILE_OVERWRITE = True  # keys are UUIDs or per-job frame numbers: a re-run replaces its own frame
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_S3_ADDRESSING_STYLE = os.environ.get("AWS_S3_ADDRESSING_STYLE") or ("path" if AWS_S3_ENDPOINT_URL else None)
MEDIA_STORAGE_BACKENDS = {
    "fs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"allow_overwrite": True}},
    "s3": {"BACKEND": "storages.backends.s3.S3Storage"},
}
STORAGES = {
    "default": MEDIA_STORAGE_BACKENDS[GENREC_MEDIA_STORAGE],
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads and result frames live here; they are never served by a public alias,
# only through owner-checked views.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "var" / "media")
FILE_UPLOAD_TEMP_DIR = None
FILE_UPLOAD_PERMISSIONS = 0o600

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNELS_PREFIX", "genrec")},
    }
}

# Celery: configured in genrec_site/celery.py from these names.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
# Queue names are photos, videos, studies, housekeeping after this prefix (two sites sharing one Redis database).
GENREC_QUEUE_PREFIX = os.environ.get("GENREC_QUEUE_PREFIX", "")
# Niceness added to a worker's pool processes: the quick start gives its all-queues worker 10, so the process
# kept for photos wins the CPU from video analysis on the same machine.
GENREC_WORKER_NICE = envint("GENREC_WORKER_NICE", 0)

# Security: HTTPS only unless DEBUG; plain HTTP (the quick start on loopback) must be asked for.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the page script reads it to post uploads
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
# Container health probes call /healthz over plain HTTP from inside the container; Prometheus scrapes /metrics
# from inside the deployment's network (docs/SECURITY.md).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
# These two reach beyond this site (every subdomain, browsers' built-in list): the operator opts in.
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
if envbool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login lockout (django-axes): after this many failures, the account+address pair waits.
AXES_FAILURE_LIMIT = envint("GENREC_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envfloat("GENREC_LOGIN_COOLOFF_HOURS", 0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no banner on every start: a command's refusal stays the one line it prints

# /metrics answers staff sessions and `Authorization: Bearer <token>` (Prometheus); unset, only staff sessions.
GENREC_METRICS_TOKEN = envsecret("GENREC_METRICS_TOKEN") or ""
if GENREC_METRICS_TOKEN and len(GENREC_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("GENREC_METRICS_TOKEN must be at least 32 characters: secrets.token_urlsafe(32).")

# ---- GEN_REC limits: every one a named setting with a safe default ----
# Read by the pipeline (GENREC_MODEL_DIR, else models/default), so the command line and the site agree.
# The model new jobs use when no ModelVersion is marked active (the quick start's, before any sync).
GENREC_MODEL_DIR = default_model_dir()
# Every sub-folder with a manifest.json is a model (manage.py sync_models; workers and web sync at start).
GENREC_MODELS_ROOT = models_root()
GENREC_MAX_UPLOAD_BYTES = envint("GENREC_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
GENREC_MAX_VIDEO_FRAMES = envint("GENREC_MAX_VIDEO_FRAMES", 54_000)
GENREC_MAX_VIDEO_SECONDS = envint("GENREC_MAX_VIDEO_SECONDS", 30 * 60)
GENREC_DEFAULT_EVERY_N_FRAMES = envint("GENREC_DEFAULT_EVERY_N_FRAMES", 1)
GENREC_RESULT_FRAMES_KEPT = envint("GENREC_RESULT_FRAMES_KEPT", 24)
GENREC_PROGRESS_EVENTS_PER_SECOND = envfloat("GENREC_PROGRESS_EVENTS_PER_SECOND", 10.0)
# Workers write analysed frames in batches: after this many frames or this many seconds, whichever comes first.
GENREC_RESULT_FLUSH_FRAMES = envint("GENREC_RESULT_FLUSH_FRAMES", 50)
GENREC_RESULT_FLUSH_SECONDS = envfloat("GENREC_RESULT_FLUSH_SECONDS", 0.5)
GENREC_STALE_AFTER_SECONDS = envint("GENREC_STALE_AFTER_SECONDS", 120)
GENREC_MAX_ATTEMPTS = envint("GENREC_MAX_ATTEMPTS", 3)
# A running job's worker beats every GENREC_HEARTBEAT_SECONDS; silent for GENREC_DEAD_AFTER_SECONDS (or its process
# gone on the same host) it is dead, and the recovery beat task (every GENREC_RECOVER_INTERVAL_SECONDS) resumes it.
GENREC_HEARTBEAT_SECONDS = envfloat("GENREC_HEARTBEAT_SECONDS", 2.0)
GENREC_DEAD_AFTER_SECONDS = envint("GENREC_DEAD_AFTER_SECONDS", 15)
GENREC_RECOVER_INTERVAL_SECONDS = envint("GENREC_RECOVER_INTERVAL_SECONDS", 5)
GENREC_JOB_SOFT_TIME_LIMIT = envint("GENREC_JOB_SOFT_TIME_LIMIT", 60 * 60)
GENREC_JOB_HARD_TIME_LIMIT = envint("GENREC_JOB_HARD_TIME_LIMIT", 60 * 60 + 120)
GENREC_RESULT_RETENTION_HOURS = envfloat("GENREC_RESULT_RETENTION_HOURS", 24.0)
GENREC_PURGE_INTERVAL_SECONDS = envint("GENREC_PURGE_INTERVAL_SECONDS", 15 * 60)
GENREC_REAP_INTERVAL_SECONDS = envint("GENREC_REAP_INTERVAL_SECONDS", 60)
GENREC_SPLIT_MIN_FRAMES = envint("GENREC_SPLIT_MIN_FRAMES", 1500)
GENREC_SPLIT_PARTS = envint("GENREC_SPLIT_PARTS", 0)  # 0: one part per active worker process
GENREC_UPLOADS_PER_HOUR = envint("GENREC_UPLOADS_PER_HOUR", 120)
GENREC_MAX_ACTIVE_JOBS = envint("GENREC_MAX_ACTIVE_JOBS", 3)
# Deepfake study batches (staff only): one ZIP of videos, checked entry by entry before anything is unpacked.
GENREC_STUDY_MAX_ZIP_BYTES = envint("GENREC_STUDY_MAX_ZIP_BYTES", 1024 * 1024 * 1024)
GENREC_STUDY_MAX_UNPACKED_BYTES = envint("GENREC_STUDY_MAX_UNPACKED_BYTES", 2 * 1024 * 1024 * 1024)
GENREC_STUDY_MAX_VIDEOS = envint("GENREC_STUDY_MAX_VIDEOS", 200)
# Videos are already compressed (ratio near 1); a member that inflates far more is a decompression bomb.
GENREC_STUDY_MAX_COMPRESSION_RATIO = envint("GENREC_STUDY_MAX_COMPRESSION_RATIO", 50)

# ---- Public API (/api/v1/): keys or the browser session, JSON errors, an OpenAPI document served offline ----
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "predictions.api_v1.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["predictions.api_v1.permissions.KeyScopePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "predictions.api_v1.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GEN_REC API",
    "DESCRIPTION": "Everything a person does on the site, from a script. See docs/API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],  # like every page but a few: signed in
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Refused keys per client address before it must wait; webhooks to private/loopback/link-local hosts only when allowed.
GENREC_API_KEY_FAILURES_PER_WINDOW = envint("GENREC_API_KEY_FAILURES_PER_WINDOW", 10)
GENREC_API_KEY_FAILURE_WINDOW_SECONDS = envint("GENREC_API_KEY_FAILURE_WINDOW_SECONDS", 600)
GENREC_API_MAX_WAIT_SECONDS = envint("GENREC_API_MAX_WAIT_SECONDS", 60)
GENREC_WEBHOOK_ALLOW_PRIVATE = envbool("GENREC_WEBHOOK_ALLOW_PRIVATE", False)
GENREC_WEBHOOK_MAX_ATTEMPTS = envint("GENREC_WEBHOOK_MAX_ATTEMPTS", 5)
GENREC_WEBHOOK_BACKOFF_SECONDS = envfloat("GENREC_WEBHOOK_BACKOFF_SECONDS", 10.0)

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
