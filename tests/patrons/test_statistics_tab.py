"""The Statistics tab (categories with a note by owner site, read-only figures) and the
Programs tab (reading-program measures with a chart drawn on the server)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patrons import services
from patrons.models import PatronStatistic, Program, ProgramMeasure, StatisticalCategory
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import tab_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def category():
    return StatisticalCategory.objects.order_by("pk").first()


@pytest.fixture
def program():
    return Program.objects.order_by("pk").first()


def statistic(patron, category, site, actor=None, note=""):
    return PatronStatistic.objects.create(
        patron=patron, category=category, owner_site=site, note=note, created_by=actor
    )


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_a_category_is_added_with_a_note_and_an_owner_site(
    client, librarian, patron, category, ams
):
    client.force_login(librarian)
    response = client.post(
        tab_url(patron, "statistics"),
        {"category": category.pk, "note": "Bus 12", "owner_site": ams.pk},
    )
    assert response.status_code == 200
    saved = PatronStatistic.objects.get(patron=patron)
    assert (saved.category, saved.note, saved.owner_site, saved.created_by) == (
        category,
        "Bus 12",
        ams,
        librarian,
    )


def test_the_same_category_twice_for_a_site_is_explained(client, librarian, patron, category, ams):
    statistic(patron, category, ams)
    client.force_login(librarian)
    response = client.post(
        tab_url(patron, "statistics"), {"category": category.pk, "owner_site": ams.pk}
    )
    assert response.status_code == 422
    assert services.STATISTIC_TWICE in response.context["form"].errors["category"]
    assert PatronStatistic.objects.count() == 1


def test_a_statistic_of_another_site_is_invisible_and_unreachable(
    client, librarian, patron, category, ams, jes
):
    """The patron is at AMS; JES owns one of their statistics: an AMS-only Librarian
    neither sees it nor removes it by id; a Librarian covering JES does."""
    hidden = statistic(patron, category, jes, note="JES only")
    client.force_login(librarian)
    page = client.get(tab_url(patron, "statistics"))
    assert "JES only" not in page.content.decode()
    for headers in ({}, {"HX-Request": "true"}):
        crafted = client.post(tab_url(patron, "statistics"), {"delete": hidden.pk}, headers=headers)
        assert crafted.status_code == 404
    assert PatronStatistic.objects.filter(pk=hidden.pk).exists()
    both = OperatorFactory(level=Level.LIBRARIAN, home_site=ams, site_access=[ams, jes])
    client.force_login(both)
    assert "JES only" in client.get(tab_url(patron, "statistics")).content.decode()
    assert client.post(tab_url(patron, "statistics"), {"delete": hidden.pk}).status_code == 200
    assert not PatronStatistic.objects.filter(pk=hidden.pk).exists()


def test_a_crafted_owner_site_out_of_scope_is_refused(client, librarian, patron, category, jes):
    client.force_login(librarian)
    response = client.post(
        tab_url(patron, "statistics"), {"category": category.pk, "owner_site": jes.pk}
    )
    assert response.status_code == 403
    assert not PatronStatistic.objects.exists()


def test_without_edit_personal_both_tabs_are_read_only(
    client, aide, patron, category, ams, program
):
    client.force_login(aide)
    assert client.get(tab_url(patron, "statistics")).status_code == 200
    refused = client.post(
        tab_url(patron, "statistics"), {"category": category.pk, "owner_site": ams.pk}
    )
    assert refused.status_code == 403
    measure = {"program": program.pk, "measured_on": "2026-09-01", "value": "3"}
    assert client.post(tab_url(patron, "programs"), measure).status_code == 403
    assert not PatronStatistic.objects.exists() and not ProgramMeasure.objects.exists()


def test_a_librarian_does_not_change_a_librarians_statistics(client, librarian, ams, category):
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams)
    client.force_login(librarian)
    response = client.post(
        tab_url(colleague, "statistics"), {"category": category.pk, "owner_site": ams.pk}
    )
    assert response.status_code == 403


def test_the_figures_name_staff_only_for_who_may_view_them(client, librarian, district_admin, ams):
    patron = PatronFactory(home_site=ams, created_by=district_admin, updated_by=librarian)
    client.force_login(librarian)
    figures = client.get(tab_url(patron, "statistics")).context["figures"]
    assert figures.created_by == "another operator"
    assert figures.updated_by == librarian.display_name
    assert figures.changes >= 1
    client.force_login(district_admin)
    figures = client.get(tab_url(patron, "statistics")).context["figures"]
    assert figures.created_by == district_admin.display_name


def test_the_statistics_tab_runs_the_same_queries_with_1_or_20(client, librarian, patron, ams):
    categories = [
        StatisticalCategory.objects.create(code=f"C{n}", name=f"Category {n}") for n in range(20)
    ]
    client.force_login(librarian)
    statistic(patron, categories[0], ams)
    one = queries(client, tab_url(patron, "statistics"))
    for index in range(1, 20):
        statistic(patron, categories[index], ams, note=str(index))
    assert queries(client, tab_url(patron, "statistics")) == one


# --- programs -----------------------------------------------------------------------------


def test_measures_are_added_and_drawn(client, librarian, patron, program):
    client.force_login(librarian)
    for day, value in [("2026-09-01", "2"), ("2026-10-01", "3.5"), ("2026-11-01", "5")]:
        response = client.post(
            tab_url(patron, "programs"),
            {"program": program.pk, "measured_on": day, "value": value, "grade": "4"},
        )
        assert response.status_code == 200
    [chart] = response.context["programs"]
    assert [m.value for m in chart.measures] == [Decimal("2"), Decimal("3.5"), Decimal("5")]
    xs_ys = [tuple(map(int, point.split(","))) for point in chart.points.split()]
    assert [x for x, _ in xs_ys] == sorted(x for x, _ in xs_ys)
    assert xs_ys[0][1] > xs_ys[1][1] > xs_ys[2][1]  # higher values are drawn higher up
    assert b"<polyline" in response.content


def test_a_measure_without_a_value_is_explained(client, librarian, patron, program):
    client.force_login(librarian)
    response = client.post(
        tab_url(patron, "programs"), {"program": program.pk, "measured_on": "2026-09-01"}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["value"]
    assert not ProgramMeasure.objects.exists()


def test_a_crafted_measure_of_another_patron_is_not_found(client, librarian, ams, program):
    first, second = PatronFactory(home_site=ams), PatronFactory(home_site=ams)
    measure = ProgramMeasure.objects.create(
        patron=first, program=program, value=1, measured_on=datetime.date(2026, 9, 1)
    )
    client.force_login(librarian)
    assert client.post(tab_url(second, "programs"), {"delete": measure.pk}).status_code == 404
    assert client.post(tab_url(second, "programs"), {"delete": "x"}).status_code == 404
    assert ProgramMeasure.objects.filter(pk=measure.pk).exists()
    assert client.post(tab_url(first, "programs"), {"delete": measure.pk}).status_code == 200
    assert not ProgramMeasure.objects.exists()


def test_the_programs_tab_runs_the_same_queries_with_1_or_20(client, librarian, patron, program):
    client.force_login(librarian)

    def add(n):
        ProgramMeasure.objects.create(
            patron=patron,
            program=program,
            value=n,
            measured_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=n),
        )

    add(0)
    one = queries(client, tab_url(patron, "programs"))
    for n in range(1, 20):
        add(n)
    assert queries(client, tab_url(patron, "programs")) == one


@pytest.mark.parametrize(
    ("tab", "field"),
    [("statistics", "category"), ("programs", "measured_on"), ("proxies", "barcode")],
)
def test_editors_get_the_add_form_and_others_do_not(client, librarian, aide, patron, tab, field):
    client.force_login(librarian)
    assert f'name="{field}"' in client.get(tab_url(patron, tab)).content.decode()
    client.force_login(aide)
    assert f'name="{field}"' not in client.get(tab_url(patron, tab)).content.decode()
