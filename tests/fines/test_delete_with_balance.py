"""Deleting a patron with a balance is refused (issue item 6): with the amount, a link to
the Fines tab and, for holders of the waive permission, an offer to waive the balance
first; on the page and again by the service (a crafted POST deletes nothing). The fines
app says so through patrons.deletion: patrons imports no fines code."""

import ast
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from fines import deletion as fines_deletion
from fines import services as fines_services
from fines.models import Balance, PaymentMethod
from patrons import deletion, services
from patrons.models import Patron
from tests.factories import PatronFactory
from tests.fines.test_list_balance import charge, credit, dispute, waive

pytestmark = pytest.mark.django_db

OWES_12_50 = "Owes $12.50 (active $10.00, in dispute $2.50): settle or waive the balance first."
HAS_CREDIT_5 = "Has a credit of $5.00: refund or cancel it first."


def url(patron):
    return reverse("patrons:delete", kwargs={"pk": patron.pk})


def fines_tab(patron):
    return reverse("patrons:tab", args=[patron.pk, "fines"])


def waive_offer(patron):
    return fines_tab(patron) + "?status=all&amp;waive=all"


@pytest.fixture
def owing(librarian, patron, ams):
    """The patron owes 10.00 active and 2.50 in dispute."""
    charge(librarian, patron, ams, "10.00")
    dispute(librarian, patron, charge(librarian, patron, ams, "2.50"))
    return patron


def test_the_page_gives_the_amount_the_fines_tab_and_the_waive_offer(client, librarian, owing):
    client.force_login(librarian)
    page = client.get(url(owing)).content.decode()
    assert OWES_12_50 in page
    assert f'href="{fines_tab(owing)}"' in page
    assert f'href="{waive_offer(owing)}"' in page and fines_deletion.WAIVE_ALL in page
    assert "Delete the patron" not in page


def test_a_crafted_post_deletes_nothing(client, librarian, owing):
    client.force_login(librarian)
    response = client.post(url(owing))
    assert response.status_code == 422
    page = response.content.decode()
    assert OWES_12_50 in page and f'href="{fines_tab(owing)}"' in page
    assert Patron.objects.filter(pk=owing.pk).exists()
    assert owing.fees.count() == 2


def test_the_service_refuses_too(librarian, owing):
    with pytest.raises(ValidationError) as refused:
        services.patron_delete(actor=librarian, patron=owing)
    assert refused.value.messages == [OWES_12_50]
    assert Patron.objects.filter(pk=owing.pk).exists()


def test_a_transferred_amount_is_owed_too(librarian, patron, ams):
    fee = charge(librarian, patron, ams, "4.00")
    fines_services.fees_transfer(actor=librarian, patron=patron, key=uuid.uuid4(), fee_ids=[fee.pk])
    [refusal] = deletion.refusals(patron)
    assert refusal.message == (
        "Owes $4.00 (transferred to the bursar $4.00): settle or waive the balance first."
    )
    assert [link.label for link in refusal.links] == [fines_deletion.FINES_TAB]  # none to waive


def test_a_credit_refuses_without_a_waive_offer(client, librarian, patron, ams):
    credit(librarian, patron, ams, "5.00")
    client.force_login(librarian)
    page = client.get(url(patron)).content.decode()
    assert HAS_CREDIT_5 in page and f'href="{fines_tab(patron)}"' in page
    assert fines_deletion.WAIVE_ALL not in page
    assert client.post(url(patron)).status_code == 422
    assert Patron.objects.filter(pk=patron.pk).exists()


def test_a_debt_and_a_credit_are_both_said(librarian, patron, ams):
    charge(librarian, patron, ams, "1.00")
    credit(librarian, patron, ams, "5.00")
    messages = [refusal.message for refusal in deletion.refusals(patron)]
    assert messages == [
        "Owes $1.00 (active $1.00): settle or waive the balance first.",
        HAS_CREDIT_5,
    ]


def test_once_everything_is_paid_or_waived_the_patron_is_deleted(client, librarian, owing, ams):
    first, second = owing.fees.order_by("pk")
    fines_services.fees_pay(
        actor=librarian,
        patron=owing,
        key=uuid.uuid4(),
        fee_ids=[first.pk],
        amount=Decimal("10.00"),
        method=PaymentMethod.objects.get(code="CARD"),
        site=ams,
    )
    waive(librarian, owing, second)  # disputed fees can be waived
    balance = Balance.objects.get(patron=owing)
    assert (balance.active, balance.disputed, balance.credit) == (0, 0, 0)
    client.force_login(librarian)
    assert "Delete the patron" in client.get(url(owing)).content.decode()
    response = client.post(url(owing))
    assert response.status_code == 302
    assert not Patron.objects.filter(pk=owing.pk).exists()


def test_a_patron_without_a_balance_row_is_deleted(client, librarian, patron):
    assert not Balance.objects.filter(patron=patron).exists()
    client.force_login(librarian)
    assert client.post(url(patron)).status_code == 302
    assert not Patron.objects.filter(pk=patron.pk).exists()


def test_the_waive_offer_is_only_for_holders_of_the_waive_permission(
    client, librarian, staff, owing
):
    """Library staff hold no waive permission: the refusal offers them the Fines tab only
    (they cannot delete anyway). A Librarian whose group loses the waive permission can
    still delete patrons, and is not offered the waive either."""
    [refusal] = deletion.refusals(owing)
    assert [link.label for link in refusal.links_for(librarian, owing)] == [
        fines_deletion.FINES_TAB,
        fines_deletion.WAIVE_ALL,
    ]
    assert [link.label for link in refusal.links_for(staff, owing)] == [fines_deletion.FINES_TAB]

    waive_fee = Permission.objects.get(codename="waive_fee", content_type__app_label="fines")
    librarian.security_group.permissions.remove(waive_fee)
    unwaiving = Patron.objects.get(pk=librarian.pk)
    client.force_login(unwaiving)
    page = client.get(url(owing)).content.decode()
    assert OWES_12_50 in page and f'href="{fines_tab(owing)}"' in page
    assert fines_deletion.WAIVE_ALL not in page


def test_a_failing_check_refuses(client, librarian, patron):
    """Deleting cannot be undone: a check that cannot answer counts as a refusal."""

    def broken(patron):
        raise RuntimeError("database of another app unreachable")

    deletion.register("tests.broken", broken)
    try:
        message = deletion.CHECK_FAILED.format(key="tests.broken")
        assert [refusal.message for refusal in deletion.refusals(patron)] == [message]
        with pytest.raises(ValidationError):
            services.patron_delete(actor=librarian, patron=patron)
    finally:
        deletion.unregister("tests.broken")
    assert Patron.objects.filter(pk=patron.pk).exists()


def test_another_patrons_balance_does_not_stop_a_deletion(client, librarian, owing, ams):
    other = PatronFactory(home_site=ams)
    client.force_login(librarian)
    assert client.post(url(other)).status_code == 302


def test_the_patrons_app_imports_no_fines_code():
    """ARCHITECTURE: apps register into patrons; patrons imports none of them."""
    root = Path(__file__).resolve().parents[2] / "patrons"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "fines" for name in names), path
