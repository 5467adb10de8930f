"""The simulated operators: threads, each with its own signed-in browser, that edit the same
patrons' Personal tab, register patrons, and add, pay and waive the same patrons' fees until
the deadline. Every attempt goes into the journal with what the answer said: "saved" only
when the page says so, "conflict" when it refuses because someone else was first, "failed"
when there was no answer or a 5xx (expected only during the faults)."""

import http.client
import random
import re
import threading
import time
from dataclasses import dataclass, field

from fines.services.ledger import NOT_PAYABLE, NOT_WAIVABLE
from fines.views.tab import FEE_ADDED, PAID, WAIVED
from patrons.models.patron import BARCODE_TAKEN
from patrons.services.patron import STALE_EDIT
from patrons.views.personal import SAVED as TAB_SAVED
from patrons.views.register import REGISTERED
from tests.soak.browser import Answer, Browser, form_with

SAVED, CONFLICT, FAILED, UNEXPECTED = "saved", "conflict", "failed", "unexpected"
THINK_SECONDS = 0.05  # between loading a form and sending it: room for someone else to save
REUSE_BARCODE = 0.15  # share of registrations that type a barcode another one was given
RETRY_SECONDS = 0.25  # an operator whose page failed waits a moment before the next try
OLDEST_FEES = 3  # operators take the oldest fees first: desks collide on them

SAVED_TEXT = TAB_SAVED.format(tab="Personal")  # "Personal saved."
STALE_TEXT = STALE_EDIT.split("{when}")[1].split("(")[0].strip()  # "while you were editing it"
NOT_PAYABLE_TEXT = NOT_PAYABLE.split(":")[0]
NOT_WAIVABLE_TEXT = NOT_WAIVABLE.split(":")[0]
FEE_ADDED_TEXT = FEE_ADDED.split(":")[0]
PAID_PATTERN = re.compile(PAID.format(amount=r"(\S+)", receipt=r"([A-Z0-9]+-\d+)"))
WAIVED_PATTERN = re.compile(re.escape(WAIVED.split("{")[0]) + r"(\S+)\.")
RECORD_PATH = re.compile(r"^/staff/patrons/(\d+)/$")


@dataclass
class Entry:
    operator: int
    kind: str  # edit, register, add, pay, waive
    started: float
    ended: float
    outcome: str
    status: int | None  # the answer's HTTP status; None: no answer at all
    detail: dict = field(default_factory=dict)


class Journal:
    """Every attempt of every operator, and a count of the HTTP requests they sent."""

    def __init__(self):
        self.entries: list[Entry] = []
        self.requests = 0
        self.saved_barcodes: list[str] = []
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)
            if entry.kind == "register" and entry.outcome == SAVED:
                self.saved_barcodes.append(entry.detail["barcode"])

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def barcode_to_reuse(self, rng: random.Random) -> str | None:
        with self._lock:
            return rng.choice(self.saved_barcodes) if self.saved_barcodes else None

    def of(self, kind: str, outcome: str | None = None) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind and outcome in (None, e.outcome)]


@dataclass(frozen=True)
class Plan:
    """What the operators work on (made by the test, ids of committed rows)."""

    edit_patrons: list[int]
    fee_patrons: list[int]
    fee_type: int
    card: int
    waive_reason: int


class Refused(Exception):
    """An answer that ends the attempt: its outcome and status."""

    def __init__(self, outcome: str, status: int | None, why: str = ""):
        super().__init__(why)
        self.outcome, self.status, self.why = outcome, status, why


class Operator:
    def __init__(self, number: int, browser: Browser, plan: Plan, journal: Journal, seed: int):
        self.number, self.browser, self.plan, self.journal = number, browser, plan, journal
        self.rng = random.Random(seed)
        self.sequence = 0

    def run(self, deadline: float) -> None:
        actions = [self.edit] * 9 + [self.register] * 4 + [self.fees] * 7
        while time.monotonic() < deadline:
            self.sequence += 1
            self.attempt(self.rng.choice(actions))

    def attempt(self, action) -> None:
        started = time.monotonic()
        detail: dict = {}
        try:
            kind, outcome, status = action(detail)
        except Refused as refused:
            kind = detail.get("kind", action.__name__)
            outcome, status = refused.outcome, refused.status
            detail["why"] = refused.why
        ended = time.monotonic()
        self.journal.add(Entry(self.number, kind, started, ended, outcome, status, detail))
        if outcome == FAILED:
            time.sleep(RETRY_SECONDS)

    # --- requests ----------------------------------------------------------------------

    def get(self, path: str) -> Answer:
        answer = self._send(self.browser.get, path)
        if answer.status != 200:
            raise Refused(_failure(answer.status), answer.status, f"GET {path}")
        return answer

    def post(self, path: str, fields: list[tuple[str, str]]) -> Answer:
        return self._send(self.browser.post, path, fields)

    def _send(self, method, *args) -> Answer:
        self.journal.count_request()
        try:
            return method(*args)
        except (OSError, http.client.HTTPException) as error:
            raise Refused(FAILED, None, f"{type(error).__name__}: {error}") from None

    def token(self, letter: str) -> str:
        """A value no other attempt writes: the checker finds it in the database."""
        return f"Soak{self.number}{letter}{self.sequence}"

    # --- the Personal tab: the same few patrons, optimistic locking by `version` --------

    def edit(self, detail: dict) -> tuple[str, str, int]:
        detail["kind"] = "edit"
        patron = self.rng.choice(self.plan.edit_patrons)
        path = f"/staff/patrons/{patron}/personal/"
        form = _form(self.get(path), "version")
        token = self.token("e")
        detail.update(patron=patron, token=token, posted_version=int(form.value("version")))
        time.sleep(self.rng.uniform(0, THINK_SECONDS))
        answer = self.post(path, _replace(form.fields, first_name=token))
        if answer.status == 200 and SAVED_TEXT in answer.body:
            detail["saved_version"] = int(_form(answer, "version").value("version"))
            return "edit", SAVED, 200
        if answer.status == 422 and STALE_TEXT in answer.body:
            return "edit", CONFLICT, 422
        raise Refused(_failure(answer.status), answer.status, _gist(answer))

    # --- registration: the barcode offered by the counter, sometimes one already given ---

    def register(self, detail: dict) -> tuple[str, str, int]:
        detail["kind"] = "register"
        form = _form(self.get("/staff/patrons/new/"), "barcode")
        offered = form.value("barcode")
        reused = self.rng.random() < REUSE_BARCODE and self.journal.barcode_to_reuse(self.rng)
        barcode = reused or offered
        last_name = self.token("r")
        detail.update(offered=offered, barcode=barcode, reused=bool(reused), last_name=last_name)
        fields = _replace(form.fields, first_name="Soak", last_name=last_name, barcode=barcode)
        answer = self.post("/staff/patrons/new/", [*fields, ("action", "save")])
        record = RECORD_PATH.match(answer.location) if answer.status == 302 else None
        if record:
            detail["patron"] = int(record.group(1))
            detail["message_seen"] = self._registered_message(answer, barcode)
            return "register", SAVED, 302
        if answer.status == 422 and BARCODE_TAKEN in answer.body:
            return "register", CONFLICT, 422
        raise Refused(_failure(answer.status), answer.status, _gist(answer))

    def _registered_message(self, answer: Answer, barcode: str) -> bool | None:
        """The record page the redirect leads to says "... registered with barcode B."
        (None: the page did not load, the faults; the redirect already said it was saved)."""
        try:
            page = self._send(self.browser.follow, answer)
        except Refused:
            return None
        if page.status != 200:
            return None
        said = REGISTERED.split("{barcode}")[0].split("}")[1] + barcode
        if said not in page.body:
            raise Refused(UNEXPECTED, page.status, "registered without the message")
        return True

    # --- fees: the same patrons' fees, paid and waived by everyone --------------------

    def fees(self, detail: dict) -> tuple[str, str, int]:
        detail["kind"] = "add"
        patron = self.rng.choice(self.plan.fee_patrons)
        path = f"/staff/patrons/{patron}/fines/"
        page = self.get(path)
        selected = _form(page, "selected-key")
        active = selected.options.get("selected-fees", [])
        detail["patron"] = patron
        if len(active) < 4 or self.rng.random() < 0.1:
            return self._add(detail, path, _form(page, "add-key"))
        chosen = self.rng.sample(active[:OLDEST_FEES], self.rng.choice((1, 1, 2)))
        time.sleep(self.rng.uniform(0, THINK_SECONDS))
        if self.rng.random() < 0.6:
            return self._pay(detail, path, selected, chosen)
        return self._waive(detail, path, selected, chosen)

    def _add(self, detail, path, form) -> tuple[str, str, int]:
        token = self.token("f")
        amount = f"{self.rng.randint(1, 9)}.{self.rng.randint(0, 99):02d}"
        detail.update(kind="add", key=form.value("add-key"), token=token, amount=amount)
        fields = _replace(
            form.fields,
            **{"add-fee_type": str(self.plan.fee_type), "add-amount": amount, "add-comment": token},
        )
        answer = self.post(path, fields)
        if answer.status == 200 and FEE_ADDED_TEXT in answer.body:
            return "add", SAVED, 200
        raise Refused(_failure(answer.status), answer.status, _gist(answer))

    def _pay(self, detail, path, form, chosen) -> tuple[str, str, int]:
        detail.update(kind="pay", key=form.value("selected-key"), fees=[int(f) for f in chosen])
        answer = self.post(path, _selection(form, chosen, "pay", payment_method=self.plan.card))
        paid = PAID_PATTERN.search(answer.body) if answer.status == 200 else None
        if paid:
            detail.update(amount=paid.group(1), receipt=paid.group(2))
            return "pay", SAVED, 200
        if answer.status == 422 and NOT_PAYABLE_TEXT in answer.body:
            return "pay", CONFLICT, 422
        raise Refused(_failure(answer.status), answer.status, _gist(answer))

    def _waive(self, detail, path, form, chosen) -> tuple[str, str, int]:
        detail.update(kind="waive", key=form.value("selected-key"), fees=[int(f) for f in chosen])
        fields = _selection(form, chosen, "waive", waive_reason=self.plan.waive_reason)
        answer = self.post(path, fields)
        waived = WAIVED_PATTERN.search(answer.body) if answer.status == 200 else None
        if waived:
            detail["amount"] = waived.group(1)
            return "waive", SAVED, 200
        if answer.status == 422 and NOT_WAIVABLE_TEXT in answer.body:
            return "waive", CONFLICT, 422
        raise Refused(_failure(answer.status), answer.status, _gist(answer))


def _form(answer: Answer, name: str):
    form = form_with(answer.body, name)
    if form is None:
        raise Refused(UNEXPECTED, answer.status, f"no form with {name}")
    return form


def _replace(fields: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    kept = [(name, value) for name, value in fields if name not in values]
    return kept + list(values.items())


def _selection(form, chosen: list[str], action: str, **choices: int) -> list[tuple[str, str]]:
    """The fee table's form with these fees ticked and this action's button pressed."""
    fields = [(name, value) for name, value in form.fields if name != "selected-fees"]
    extra = {f"selected-{name}": str(value) for name, value in choices.items()}
    fields = _replace(fields, **extra)
    return [*fields, *(("selected-fees", fee) for fee in chosen), ("selected-action", action)]


def _failure(status: int | None) -> str:
    return FAILED if status is None or status >= 500 else UNEXPECTED


def _gist(answer: Answer) -> str:
    """What an unexpected answer said: its status and the page's error lines."""
    errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', answer.body, re.S)
    title = re.search(r"<title>(.*?)</title>", answer.body, re.S)
    said = " | ".join(re.sub(r"<[^>]+>", " ", e).strip() for e in errors)[:300]
    return f"{answer.status} {title.group(1).strip() if title else ''} {said}".strip()
