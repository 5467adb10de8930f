"""A password reset answers alike for known and unknown addresses, in time too (issue 10d):
the request does the same work either way, and the email leaves after the response, so
the mail server's delay tells nothing. Speed itself is never measured here."""

import socket
import threading

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from security import mail as mail_sender
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db

WAIT = 10  # seconds, only ever a bound on waiting for something that should happen


def request_reset(client, email):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("password_reset"), {"email": email})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    work = {
        "templates": [template.name for template in response.templates],
        "queries": [query["sql"].replace(email, "<email>") for query in queries],
    }
    assert mail_sender.flush(timeout=WAIT)
    return work


def test_known_and_unknown_addresses_cost_the_same_work(client, ams):
    PatronFactory(username="reader", email="reader@example.org", home_site=ams)
    PatronFactory(username=None, email="nologin@example.org", home_site=ams)

    known = request_reset(client, "reader@example.org")
    unknown = request_reset(client, "nobody@example.org")
    cannot_sign_in = request_reset(client, "nologin@example.org")

    assert "registration/password_reset_email.html" in known["templates"]
    assert known == unknown == cannot_sign_in
    assert [message.to for message in mail.outbox] == [["reader@example.org"]]


class HeldMailServer:
    """A real SMTP server on localhost that greets nobody until `release()`: a request that
    sent its own email would still be waiting for the greeting when it should answer."""

    def __init__(self):
        self.released = threading.Event()
        self.delivered = threading.Event()
        self.messages: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(WAIT * 2)
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self._socket.close()

    def _serve(self):
        try:
            connection, _ = self._socket.accept()
        except OSError:
            return
        with connection, connection.makefile("rwb") as stream:
            self.released.wait(WAIT * 2)
            self._talk(stream)

    def _talk(self, stream):
        def say(line: bytes):
            stream.write(line + b"\r\n")
            stream.flush()

        say(b"220 held.example ESMTP")
        while command := stream.readline():
            verb = command[:4].upper()
            if verb == b"DATA":
                say(b"354 go ahead")
                lines = []
                while (line := stream.readline()) not in (b".\r\n", b""):
                    lines.append(line)
                self.messages.append(b"".join(lines).decode())
                say(b"250 queued")
                self.delivered.set()
            elif verb == b"QUIT":
                say(b"221 bye")
                return
            else:  # EHLO, MAIL, RCPT, RSET, NOOP
                say(b"250 ok")


@pytest.fixture
def held_mail_server(settings):
    server = HeldMailServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 3
    yield server
    server.close()
    mail_sender.flush(timeout=WAIT)


def test_the_email_leaves_after_the_answer(client, ams, held_mail_server):
    PatronFactory(username="reader", email="reader@example.org", home_site=ams)

    response = client.post(reverse("password_reset"), {"email": "reader@example.org"})

    assert response["Location"] == reverse("password_reset_done")
    assert held_mail_server.messages == []
    held_mail_server.release()
    assert held_mail_server.delivered.wait(WAIT), "the email never reached the mail server"
    (message,) = held_mail_server.messages
    assert "To: reader@example.org" in message
    assert "/accounts/reset/" in message
