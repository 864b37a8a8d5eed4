"""A real CAS server (django-cas-server) for the SSO tests, on loopback.

Usage: python run.py PORT WORKDIR CONFIG_JSON where CONFIG_JSON holds ``user``, ``password``,
``attributes`` and ``service_pattern`` (a regex the service URL must match). The database is
a SQLite file in WORKDIR; the server runs until it is killed.
"""

from __future__ import annotations

import json
import sys

import django
from django.conf import settings

urlpatterns: list = []  # filled once settings exist (ROOT_URLCONF is this module)


def main() -> None:
    port, workdir, cfg = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        SECRET_KEY="cas-peer-" + "k" * 50,
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        LANGUAGE_CODE="en",
        INSTALLED_APPS=[
            "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
            "django.contrib.messages", "django.contrib.staticfiles", "cas_server",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{workdir}/cas.db"}},
        STATIC_URL="/static/",
        CAS_AUTH_CLASS="cas_server.auth.TestAuthUser",
        CAS_TEST_USER=cfg["user"],
        CAS_TEST_PASSWORD=cfg["password"],
        CAS_TEST_ATTRIBUTES=cfg["attributes"],
        CAS_SLO_TIMEOUT=5,
        CAS_SHOW_POWERED=False,
    )
    django.setup()
    from django.core.management import call_command
    from django.urls import include, path

    urlpatterns.append(path("cas/", include(("cas_server.urls", "cas_server"), namespace="cas_server")))

    call_command("migrate", verbosity=0, interactive=False)
    from cas_server import models

    pattern = models.ServicePattern.objects.create(
        pos=0, name="union", pattern=cfg["service_pattern"], single_log_out=True)
    models.ReplaceAttributName.objects.create(name="*", service_pattern=pattern)
    print("ready", flush=True)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True, verbosity=0)


if __name__ == "__main__":
    main()
