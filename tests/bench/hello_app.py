"""A Django hello world under the same gunicorn configuration as the application: the
ceiling any Django page can reach on this machine (no database, no middleware)."""

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-hello-world-not-a-secret",  # noqa: S106
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return HttpResponse("Hello, world")


urlpatterns = [path("", hello)]
application = get_wsgi_application()
