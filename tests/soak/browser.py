"""A minimal browser for the soak: cookies, the CSRF token of the form it just loaded, and
the forms of a page as a browser would submit them. Standard library only (the project has
no HTTP client dependency); loopback only."""

import http.client
import http.cookies
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

TIMEOUT = 30


@dataclass
class Answer:
    status: int
    location: str
    body: str


@dataclass
class Form:
    """One <form>: its fields in document order (unchecked boxes left out) and the values
    offered by each checkbox and select, for the caller to choose from."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.fields if key == name), default)

    def names(self) -> set[str]:
        return {key for key, _ in self.fields} | set(self.options)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form()
            self.forms.append(self._form)
        elif self._form is not None:
            self._field(tag, attrs)

    def _field(self, tag, attrs):
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                self._form.options.setdefault(name, []).append(attrs.get("value", "on"))
                if "checked" in attrs:
                    self._form.fields.append((name, attrs.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self._form.fields.append((name, attrs.get("value", "")))
        elif tag == "select" and name:
            self._select = name
            self._form.options[name] = []
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            self._form.options[self._select].append(value)
            if "selected" in attrs:
                self._form.fields.append((self._select, value))
        elif tag == "textarea" and name:
            self._textarea = name
            self._form.fields.append((name, ""))

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            name, value = self._form.fields[-1]
            self._form.fields[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, name: str) -> Form | None:
    """The first form of the page that has a field called `name`."""
    return next((form for form in forms(html) if name in form.names()), None)


class Browser:
    """One operator's browser: a session cookie made by the test, the CSRF cookie the
    server sets. A new connection per request (gunicorn's sync workers close them)."""

    def __init__(self, base_url: str, cookies: dict[str, str]):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.origin = parsed.hostname, parsed.port, base_url
        self.cookies = dict(cookies)

    def get(self, path: str) -> Answer:
        return self._send("GET", path, None)

    def post(self, path: str, fields: list[tuple[str, str]]) -> Answer:
        """A form post with the CSRF token, as the page's form would send it."""
        data = [(k, v) for k, v in fields if k != "csrfmiddlewaretoken"]
        data.append(("csrfmiddlewaretoken", self.cookies.get("csrftoken", "")))
        return self._send("POST", path, urllib.parse.urlencode(data))

    def follow(self, answer: Answer, hops: int = 3) -> Answer:
        """Follow redirects as a browser does (GET), to the page that shows the message."""
        while answer.status in (301, 302, 303) and hops:
            answer, hops = self.get(answer.location), hops - 1
        return answer

    def _send(self, method: str, path: str, body: str | None) -> Answer:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            self._keep_cookies(response.msg.get_all("Set-Cookie") or [])
            location = urllib.parse.urlsplit(response.getheader("Location", "")).path
            return Answer(response.status, location, text)
        finally:
            connection.close()

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                self.cookies[name] = morsel.value
