"""The fines lists and settings on the Preferences pages: fee types with a default amount
and a credit mark, payment methods with a cash mark, waive reasons, a debt limit per patron
type, the most fees waived at once. Entries that fees use cannot be deleted."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from fines import debt, services
from fines.models import FeeType, PaymentMethod
from patrons.models import PatronType
from security import preferences
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db


def list_url(slug):
    return reverse("preferences:list", kwargs={"slug": slug})


def posted(client, slug, changes=None, new=None):
    """The list's formset as a browser sends it back (every field of every row), with
    `changes` ({code: {field: value}}) and `new` (the empty row)."""
    formset = client.get(list_url(slug)).context["formset"]
    data = {
        "form-TOTAL_FORMS": str(len(formset.forms)),
        "form-INITIAL_FORMS": str(formset.initial_form_count()),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    for index, form in enumerate(formset.forms):
        if form.instance.pk:
            values = {"id": form.instance.pk}
            values.update(
                {
                    name: form.initial.get(name)
                    for name in form.fields
                    if name not in ("id", "DELETE")
                }
            )
            values.update((changes or {}).get(form.instance.code, {}))
        else:
            values = new or {}
        for name, value in values.items():
            if value is None or value is False:
                continue
            data[f"form-{index}-{name}"] = "on" if value is True else value
    return data


def test_the_fines_lists_have_pages(client, librarian):
    client.force_login(librarian)
    page = client.get(reverse("preferences:edit")).content.decode()
    for slug in ("fee-types", "waive-reasons", "payment-methods"):
        assert list_url(slug) in page
        assert client.get(list_url(slug)).status_code == 200


def test_a_debt_limit_set_on_a_patron_type_blocks_at_once(client, librarian, ams):
    student = PatronType.objects.create(code="ST", name="Student")
    pupil = PatronFactory(home_site=ams, patron_type=student)
    services.fee_add(
        actor=librarian,
        patron=pupil,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="LOST"),
        owner_site=ams,
        amount=Decimal("10.00"),
    )
    client.force_login(librarian)
    response = client.post(
        list_url("patron-types"), posted(client, "patron-types", {"ST": {"debt_limit": "10.00"}})
    )
    assert response.status_code == 302
    assert PatronType.objects.get(code="ST").debt_limit == Decimal("10.00")
    assert debt.blocks(pupil)
    response = client.post(
        list_url("patron-types"), posted(client, "patron-types", {"ST": {"debt_limit": "10.01"}})
    )
    assert response.status_code == 302
    assert not debt.blocks(pupil)


@pytest.mark.parametrize("limit", ["0", "-5", "abc", "1.234"])
def test_a_bad_debt_limit_is_refused(client, librarian, limit):
    PatronType.objects.create(code="ST", name="Student")
    client.force_login(librarian)
    response = client.post(
        list_url("patron-types"), posted(client, "patron-types", {"ST": {"debt_limit": limit}})
    )
    assert response.status_code == 422
    assert PatronType.objects.get(code="ST").debt_limit is None


def test_a_fee_type_gets_a_default_amount_and_keeps_its_credit_mark(client, librarian):
    client.force_login(librarian)
    data = posted(
        client,
        "fee-types",
        {"LOST": {"default_amount": "25.00"}},
        new={"code": "BAG", "name": "Lost bag", "default_amount": "3.50"},
    )
    assert client.post(list_url("fee-types"), data).status_code == 302
    assert FeeType.objects.get(code="LOST").default_amount == Decimal("25.00")
    assert FeeType.objects.get(code="BAG").default_amount == Decimal("3.50")
    assert FeeType.objects.get(code="CREDIT").is_credit


def test_entries_that_fees_use_cannot_be_deleted(client, librarian, patron, ams):
    fee = services.fee_add(
        actor=librarian,
        patron=patron,
        key=uuid.uuid4(),
        fee_type=FeeType.objects.get(code="LOST"),
        owner_site=ams,
        amount=Decimal("2.00"),
    )
    services.fees_pay(
        actor=librarian,
        patron=patron,
        key=uuid.uuid4(),
        fee_ids=[fee.pk],
        method=PaymentMethod.objects.get(code="CARD"),
        site=ams,
    )
    client.force_login(librarian)
    for slug, code in (("fee-types", "LOST"), ("payment-methods", "CARD")):
        response = client.post(list_url(slug), posted(client, slug, {code: {"DELETE": "on"}}))
        assert response.status_code == 422, slug
    assert FeeType.objects.filter(code="LOST").exists()
    assert PaymentMethod.objects.filter(code="CARD").exists()


@pytest.mark.parametrize(
    ("value", "saved"), [("1", True), ("10000", True), ("0", False), ("10001", False)]
)
def test_the_most_fees_waived_at_once_is_bounded(client, librarian, value, saved):
    client.force_login(librarian)
    form = client.get(reverse("preferences:edit")).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {key: ("" if value is None else value) for key, value in data.items()}
    data["most_fees_waived_at_once"] = value
    data["next_barcode_number"] = form["next_barcode_number"].value()
    data["initial-next_barcode_number"] = form["next_barcode_number"].value()
    response = client.post(reverse("preferences:edit"), data)
    assert (response.status_code == 302) is saved
    assert (preferences.load().most_fees_waived_at_once == int(value)) is saved
