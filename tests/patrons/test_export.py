"""The patron export: the list page's patrons, in the import's CSV format, streamed, within
the operator's scope, safe to open in a spreadsheet, logged."""

import csv
import datetime
import io

import pytest
from django.urls import reverse

from libstaff import csv_stream
from patrons import csv_columns
from patrons.models import Patron, PatronType
from patrons.views.search import LIST_TEMPLATE
from security.models import Level, OperatorAction
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db

EXPORT = reverse("patrons:export")


def exported(client, **params) -> list[dict[str, str]]:
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def barcodes(rows) -> set[str]:
    return {row["barcode"] for row in rows}


def test_the_header_is_the_import_format(client, librarian):
    client.force_login(librarian)
    response = client.get(EXPORT)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert next(csv.reader(io.StringIO(text.lstrip("\ufeff")))) == csv_columns.HEADER


def test_every_column_reads_back_as_the_patrons_value(client, librarian, ams):
    student = PatronType.objects.create(code="STU", name="Student")
    patron = PatronFactory(
        home_site=ams,
        barcode="B0001",
        admin_system_id="SIS-42",
        username="jmuller",
        title="Dr",
        first_name="José",
        middle_name="María",
        last_name='Müller, "Pepe"',
        preferred_first_name="Pepe",
        preferred_last_name="Mull",
        birth_date=datetime.date(2011, 2, 28),
        gender="m",
        patron_type=student,
        cohort="2029",
        form_class="7B",
        status=Patron.Status.SUSPENDED,
        expiry_date=datetime.date(2030, 6, 30),
        purge_date=datetime.date(2035, 1, 1),
        email="jose@example.org",
        communication_channel=Patron.Channel.MAIL,
        language="es",
        is_staff_member=True,
    )
    client.force_login(librarian)
    (row,) = [row for row in exported(client) if row["barcode"] == "B0001"]
    references = {
        "home_site": ams.code,
        "patron_type": student.code,
        "security_group": patron.security_group.name,
    }
    for name, column in csv_columns.BY_NAME.items():
        expected = references.get(name, getattr(patron, name))
        assert column.parse(row[name]) == expected, name


def test_empty_values_read_back_empty(client, librarian, ams):
    patron = PatronFactory(home_site=ams, barcode="B0002", username=None, birth_date=None)
    client.force_login(librarian)
    (row,) = [row for row in exported(client) if row["barcode"] == "B0002"]
    assert row["username"] == row["birth_date"] == row["patron_type"] == ""
    assert csv_columns.BY_NAME["is_staff_member"].parse(row["is_staff_member"]) is False
    assert patron.username is None


def test_the_lists_filters_and_search_apply(client, librarian, ams, ams_branch):
    PatronFactory(home_site=ams, barcode="AT-AMS", last_name="Lovelace")
    PatronFactory(home_site=ams_branch, barcode="AT-BRANCH", last_name="Hopper")
    client.force_login(librarian)
    assert barcodes(exported(client, site=ams_branch.pk)) == {"AT-BRANCH"}
    assert barcodes(exported(client, q="lovelace")) == {"AT-AMS"}
    assert barcodes(exported(client, q="lovelace", site=ams_branch.pk)) == set()


def test_the_lists_sort_applies(client, librarian, ams):
    for barcode in ("C3", "A1", "B2"):
        PatronFactory(home_site=ams, barcode=barcode)
    client.force_login(librarian)
    listed = [row["barcode"] for row in exported(client, sort="-barcode")]
    assert [code for code in listed if code in {"A1", "B2", "C3"}] == ["C3", "B2", "A1"]


def test_refused_filters_get_the_list_page_with_their_errors(client, librarian, ams):
    PatronFactory(home_site=ams)
    client.force_login(librarian)
    response = client.get(EXPORT, {"owes": "lots", "site": "999999"})
    assert response.status_code == 422
    assert not response.streaming
    assert LIST_TEMPLATE in [template.name for template in response.templates]
    assert "Enter an amount such as 12.50." in response.content.decode()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.EXPORT).exists()


def test_only_patrons_in_scope(client, librarian, operator_at_other_site, ams, jes):
    PatronFactory(home_site=ams, barcode="AT-AMS")
    PatronFactory(home_site=jes, barcode="AT-JES")
    client.force_login(librarian)
    assert "AT-JES" not in barcodes(exported(client))
    assert "AT-AMS" in barcodes(exported(client))
    client.force_login(operator_at_other_site)
    assert barcodes(exported(client)) == {"AT-JES", operator_at_other_site.barcode}


def test_a_district_administrator_exports_every_site(client, district_admin, ams, jes):
    PatronFactory(home_site=ams, barcode="AT-AMS")
    PatronFactory(home_site=jes, barcode="AT-JES")
    client.force_login(district_admin)
    assert {"AT-AMS", "AT-JES"} <= barcodes(exported(client))


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","x")', "+1", "-x", "@x"])
def test_formula_cells_are_plain_text(client, librarian, ams, name):
    PatronFactory(home_site=ams, barcode="EVIL", last_name=name, first_name="\tTab")
    client.force_login(librarian)
    (row,) = [row for row in exported(client) if row["barcode"] == "EVIL"]
    assert row["last_name"] == "'" + name
    assert row["first_name"] == "'\tTab"
    assert csv_stream.unquoted_cell(row["last_name"]) == name


@pytest.mark.parametrize("role", ["aide", "staff"])
def test_operators_without_the_export_permission_are_refused(client, roles, role):
    client.force_login(roles[role])
    assert client.get(EXPORT).status_code == 403


def test_patrons_have_no_staff_side(client, patron):
    client.force_login(patron)
    assert client.get(EXPORT).status_code == 403


def test_anonymous_is_sent_to_sign_in(client, ams):
    response = client.get(EXPORT)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_export_is_logged_with_its_filters(client, librarian, ams):
    client.force_login(librarian)
    exported(client, q="smith", site=ams.pk, blocked="no")
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.EXPORT)
    assert entry.operator == librarian
    assert entry.details == {"filters": {"q": "smith", "site": str(ams.pk), "blocked": "no"}}


def test_posting_is_not_allowed(client, librarian):
    client.force_login(librarian)
    assert client.post(EXPORT).status_code == 405


@pytest.mark.parametrize("how_many", [1, 50])
def test_a_fixed_number_of_queries_whatever_the_rows(
    client, librarian, ams, django_assert_max_num_queries, how_many
):
    student = PatronType.objects.create(code="STU", name="Student")
    PatronFactory.create_batch(how_many, home_site=ams, patron_type=student)
    client.force_login(librarian)
    with django_assert_max_num_queries(10):
        rows = exported(client, blocked="no", notes="no")
    assert len(rows) >= how_many
    assert {row["patron_type"] for row in rows} >= {"STU"}


def test_operators_level_does_not_hide_rows_they_see(client, librarian, ams):
    """Exporting reads: colleagues at the operator's level are in the list, so in the file."""
    from tests.factories import OperatorFactory

    colleague = OperatorFactory(home_site=ams, level=Level.LIBRARIAN, barcode="COLLEAGUE")
    client.force_login(librarian)
    assert colleague.barcode in barcodes(exported(client))
