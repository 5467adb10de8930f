"""LibStaff settings. Everything that differs between machines comes from the environment
(or `.env`); see the README for the variables."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)


def _development_secret_key() -> str:
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# Production refuses to start without SECRET_KEY (env() raises ImproperlyConfigured).
SECRET_KEY = env("SECRET_KEY") if PRODUCTION else env("SECRET_KEY", default=None)
if not SECRET_KEY:
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "guardian",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "libstaff",
    "sites",
    "security",
    "patrons",
    "fines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "security.middleware.NoStoreMiddleware",
    "security.middleware.OperatorLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "security.middleware.RefusalLogMiddleware",
    "security.middleware.PreferencesMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "security.middleware.IdleSessionMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "security.middleware.TwoFactorMiddleware",
    "security.middleware.ForcePasswordChangeMiddleware",
    "axes.middleware.AxesMiddleware",
]

# The history context (who, which URL) is set for the requests that write. A GET writes no
# history, and the context would otherwise be sent ahead of every one of its queries.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

ROOT_URLCONF = "libstaff.urls"
WSGI_APPLICATION = "libstaff.wsgi.application"

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
                "security.context_processors.navigation",
                "security.context_processors.working_site_picker",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja_templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "libstaff.jinja.environment"},
    },
]

# Database: DATABASE_URL when set; otherwise the embedded PostgreSQL in .data/postgres/.
if not env("DATABASE_URL", default=""):
    if PRODUCTION:
        raise environ.ImproperlyConfigured("DATABASE_URL is required in production.")
    from libstaff import embedded_db

    # Exported so that child processes reuse the same server instead of starting one.
    os.environ["DATABASE_URL"] = embedded_db.start(DATA_DIR)

DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env("LIBSTAFF_TEST_DB", default=""):
    # Lets several test runs share one server, each with its own test database.
    DATABASES["default"]["TEST"] = {"NAME": env("LIBSTAFF_TEST_DB")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "patrons.Patron"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "security.backends.PolicyBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "security.passwords.LibraryPasswordValidator"},
]
# Length and kind of characters come from the Preferences page (security.preferences).

# Two-factor sign-in (django-otp): the name authenticator apps show for our codes.
OTP_TOTP_ISSUER = env("LIBSTAFF_TOTP_ISSUER", default="LibStaff")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lockout after repeated failed logins (django-axes, stored in the database: the web
# tier keeps no state), per account and client address: the account whichever of its
# identifiers was typed (security.accounts.axes_username), an IPv6 address as its /64.
# Neither per account alone (anyone could lock any operator out) nor per address alone
# (one pupil could lock out a school behind one NAT address).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "security.accounts.axes_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_CLIENT_IP_CALLABLE = "security.accounts.axes_client_address"

# How many reverse proxies in front of the app append to X-Forwarded-For (0: the header is
# ignored, the client is REMOTE_ADDR). Read by security.middleware.client_ip for the
# operator log and sign-in lockouts. Never more than there are: clients could forge it.
LIBSTAFF_TRUSTED_PROXIES = env.int("LIBSTAFF_TRUSTED_PROXIES", default=0)

# Shared library computers: the session cookie dies with the browser, and a session left
# idle is signed out on the server (security.middleware.IdleSessionMiddleware). Operators
# reach many records; patrons sign in mostly at public catalogue computers, for a few minutes.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
LIBSTAFF_STAFF_IDLE_MINUTES = env.int("LIBSTAFF_STAFF_IDLE_MINUTES", default=30)
LIBSTAFF_PATRON_IDLE_MINUTES = env.int("LIBSTAFF_PATRON_IDLE_MINUTES", default=15)

# Content-Security-Policy (django-csp): our own files only, no inline script or style, no
# eval. htmx is told not to need them (the htmx-config meta tag in templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.NONE],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "media/"
# Files attached to patron records (patrons.forms.attachments): the largest accepted.
LIBSTAFF_ATTACHMENT_MAX_MB = env.int("LIBSTAFF_ATTACHMENT_MAX_MB", default=10)
# django-guardian: object permissions on security groups (delegations), read by the policy
# as facts. Its backend stays out of AUTHENTICATION_BACKENDS: the policy alone decides.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
GUARDIAN_MONKEY_PATCH_GROUP = False
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]  # its backend is left out on purpose (above)

# The currency of every amount (ISO 4217), shown in the library's way of writing it.
LIBSTAFF_CURRENCY = env("LIBSTAFF_CURRENCY", default="USD")
LIBSTAFF_CURRENCY_LOCALE = env("LIBSTAFF_CURRENCY_LOCALE", default="en_US")
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = 30  # seconds: a mail server that hangs never holds the mail sender forever
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="LibStaff <libstaff@localhost>")

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Behind HTTPS (the norm); SECURE_COOKIES=false only for a plain-HTTP trial on a LAN.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# Imports (patrons.services.imports): a run that would deactivate more than this share of a
# site's active patrons stops for an explicit confirmation (a truncated file must not empty
# a school); files are read in a thread of the request unless this is False.
LIBSTAFF_IMPORT_DEACTIVATION_LIMIT = env.float("LIBSTAFF_IMPORT_DEACTIVATION_LIMIT", default=0.10)
LIBSTAFF_IMPORT_IN_BACKGROUND = env.bool("LIBSTAFF_IMPORT_IN_BACKGROUND", default=True)
LIBSTAFF_IMPORT_MAX_BYTES = env.int("LIBSTAFF_IMPORT_MAX_BYTES", default=2 * 1024**3)
