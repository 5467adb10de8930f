"""Two District Administrators demoting each other at the same moment: one wins, the
other is refused, and a District Administrator remains."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from patrons import services
from patrons.models import Patron
from security.models import Level
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
