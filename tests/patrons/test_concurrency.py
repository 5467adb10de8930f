"""Races: two District Administrators demoting each other at the same moment (one wins, the
other is refused, and a District Administrator remains); registrations of one barcode at
the same moment (one is registered, the others told the barcode is taken)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from patrons import services
from patrons.models import Patron
from patrons.models.patron import BARCODE_TAKEN
from patrons.services import patron as patron_services
from security.models import Level, OperatorAction
from tests.conftest import SignedInClient
from tests.factories import OperatorFactory, group_at


@pytest.mark.django_db(transaction=True)
def test_concurrent_demotions_leave_one_district_administrator(default_groups, district):
    first = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    second = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(actor, target):
        try:
            barrier.wait(timeout=10)
            services.patron_set_status(
                actor=Patron.objects.get(pk=actor.pk),
                patron=Patron.objects.get(pk=target.pk),
                status=Patron.Status.INACTIVE,
            )
            outcomes.append("done")
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == sorted(["done", services.LAST_DISTRICT_ADMIN])
    assert Patron.objects.active_district_administrators().count() == 1
    assert group_at(Level.DISTRICT_ADMINISTRATOR).members.count() == 2


# --- two registrations of one barcode (issue 9) ----------------------------------------------

REGISTRATIONS = 20
BARCODE_ERROR = f'<ul class="errorlist" id="id_barcode_error"><li>{BARCODE_TAKEN}</li></ul>'


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_barcode_register_one(default_groups, ams):
    """Every registration checks that the barcode is free before saving, and at the same
    moment all of them find it free: the unique constraint decides, and every registration
    but one gets the form back with the barcode's message (422), none an error page."""
    librarian = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    clients = []
    for _ in range(REGISTRATIONS):
        client = SignedInClient(raise_request_exception=False)  # a 500 is an outcome here
        client.force_login(librarian)
        clients.append(client)
    barrier = threading.Barrier(REGISTRATIONS)
    outcomes = []

    def register(number, client):
        data = {
            "first_name": f"Ada{number}",
            "last_name": "Byron",
            "barcode": "20000999999001",
            "home_site": ams.pk,
            "security_group": group_at(Level.PATRON).pk,
            "action": "save",
        }
        try:
            barrier.wait(timeout=10)
            response = client.post(reverse("patrons:register"), data)
            taken = BARCODE_ERROR in response.content.decode()
            outcomes.append((response.status_code, taken))
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=item) for item in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == [(302, False)] + [(422, True)] * (REGISTRATIONS - 1)
    assert Patron.objects.filter(barcode="20000999999001").count() == 1
    created = OperatorAction.objects.filter(action=OperatorAction.Kind.PATRON_CREATED)
    assert created.count() == 1


def test_the_barcode_constraint_is_the_one_registration_names(db):
    """BARCODE_UNIQUE, which patron_create catches, is the constraint on Patron.barcode."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Patron._meta.db_table)
    assert constraints[patron_services.BARCODE_UNIQUE]["columns"] == ["barcode"]
    assert constraints[patron_services.BARCODE_UNIQUE]["unique"]
