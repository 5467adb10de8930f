"""Purging patrons past their purge date (manage.py purge_patrons, /staff/patrons/purge/):
who is a candidate (both sides of every condition), what each mode keeps and removes,
the dry run, the command's summary and exit codes, and the page for each role."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from fines.models import Fee
from patrons.models import (
    Identifier,
    IdentifierType,
    Note,
    NoteType,
    Patron,
    PatronEmail,
    PatronPhone,
    PatronStatistic,
    Program,
    ProgramMeasure,
    StatisticalCategory,
)
from patrons.services import purge
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory, group_at
from tests.fines.test_list_balance import charge, credit, waive

pytestmark = pytest.mark.django_db

URL = reverse("patrons:purge")
TODAY = timezone.localdate()
YESTERDAY = TODAY - datetime.timedelta(days=1)


def past_due(site, **fields):
    fields.setdefault("purge_date", YESTERDAY)
    return PatronFactory(home_site=site, **fields)


def candidate_ids(actor, **kwargs):
    return set(purge.purge_candidates(actor=actor, **kwargs).values_list("pk", flat=True))


def run(*args):
    out = io.StringIO()
    call_command("purge_patrons", *args, stdout=out)
    return out.getvalue()


# --- who is a candidate -----------------------------------------------------------------


def test_the_purge_date_must_be_past(district_admin, ams):
    yesterday = past_due(ams)
    today = past_due(ams, purge_date=TODAY)
    none = PatronFactory(home_site=ams, purge_date=None)
    found = candidate_ids(district_admin)
    assert yesterday.pk in found
    assert today.pk not in found and none.pk not in found


def test_the_balance_must_be_exactly_zero(district_admin, librarian, ams):
    settled, owes, in_credit, untouched = (past_due(ams) for _ in range(4))
    waive(librarian, settled, charge(librarian, settled, ams, "3.00"))
    charge(librarian, owes, ams, "0.01")
    credit(librarian, in_credit, ams, "0.01")
    found = candidate_ids(district_admin)
    assert settled.pk in found and untouched.pk in found
    assert owes.pk not in found and in_credit.pk not in found


def test_protected_patrons_are_not_purged(district_admin, ams):
    protected = past_due(ams, is_protected=True)
    plain = past_due(ams)
    found = candidate_ids(district_admin)
    assert plain.pk in found and protected.pk not in found


def test_the_last_district_administrator_is_not_purged(district_admin, ams):
    """The acting District Administrator is never a candidate; another one is, unless they
    would be the last who can sign in."""
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=ams, purge_date=YESTERDAY)
    assert other.pk in candidate_ids(district_admin)
    district_admin.set_unusable_password()
    district_admin.save()
    assert other.pk not in candidate_ids(district_admin)


def test_the_acting_operator_is_not_purged(district_admin):
    district_admin.purge_date = YESTERDAY
    district_admin.save()
    assert district_admin.pk not in candidate_ids(district_admin)


def test_a_site_limits_the_candidates(district_admin, ams, ams_branch, jes):
    at_ams, at_branch, at_jes = past_due(ams), past_due(ams_branch), past_due(jes)
    found = candidate_ids(district_admin, site=ams)
    assert at_ams.pk in found and at_branch.pk in found and at_jes.pk not in found


@pytest.mark.parametrize("role", ["library_admin", "librarian", "staff", "aide", "patron"])
def test_only_district_administrators_list_candidates(request, role):
    with pytest.raises(PermissionDenied):
        purge.purge_candidates(actor=request.getfixturevalue(role))


# --- the two modes ----------------------------------------------------------------------


def listed(model, name):
    return model.objects.get_or_create(code=name.upper()[:20], defaults={"name": name})[0]


@pytest.fixture
def leaver(ams, librarian, district_admin, settings, tmp_path):
    """A patron past their purge date with contact details, a note, an identifier, a
    statistic, a program measure and a settled fee."""
    settings.MEDIA_ROOT = tmp_path
    from patrons import services

    person = past_due(
        ams,
        first_name="Ada",
        last_name="Lovelace",
        barcode="B0001",
        admin_system_id="S-1",
        birth_date=datetime.date(2012, 7, 9),
        cohort="2030",
        form_class="5B",
        email="ada@example.org",
    )
    services.patron_update(
        actor=librarian, patron=person, action="patrons.edit_personal", version=person.version,
        first_name="Augusta",
    )  # fmt: skip
    PatronEmail.objects.create(patron=person, address="ada@example.org", is_primary=True)
    PatronPhone.objects.create(patron=person, number="555-0100", is_preferred=True)
    Note.objects.create(
        patron=person,
        note_type=listed(NoteType, "General"),
        text="Allergic to cats",
        owner_site=ams,
    )
    Identifier.objects.create(
        patron=person,
        identifier_type=IdentifierType.objects.get_or_create(
            code="T-IDENTI", defaults={"name": "Student id"}
        )[0],
        value="ST-123",
    )
    PatronStatistic.objects.create(
        patron=person,
        category=StatisticalCategory.objects.get_or_create(
            code="T-STATIS", defaults={"name": "Reader"}
        )[0],
        owner_site=ams,
    )
    ProgramMeasure.objects.create(
        patron=person,
        program=listed(Program, "Reading"),
        value=Decimal("12.5"),
        measured_on=TODAY,
    )
    waive(librarian, person, charge(librarian, person, ams, "2.00"))
    return Patron.objects.get(pk=person.pk)


def test_anonymising_keeps_statistics_and_fees_and_loses_personal_data(district_admin, leaver):
    result = purge.purge_patrons(actor=district_admin, mode=purge.PurgeMode.ANONYMISE)
    assert result.purged == 1
    kept = Patron.objects.get(pk=leaver.pk)
    assert kept.last_name == purge.PURGED_NAME and kept.first_name == ""
    assert kept.barcode is None and kept.username is None and kept.admin_system_id == ""
    assert kept.email == "" and not kept.photo and not kept.has_usable_password()
    assert kept.birth_date == datetime.date(2012, 1, 1)
    assert (kept.cohort, kept.form_class, kept.home_site_id) == ("2030", "5B", leaver.home_site_id)
    assert kept.status == Patron.Status.INACTIVE and kept.purge_date is None
    assert kept.security_group.level == Level.PATRON
    assert not kept.emails.exists() and not kept.phones.exists()
    assert not kept.notes.exists() and not kept.identifiers.exists()
    assert kept.statistics.count() == 1 and kept.program_measures.count() == 1
    assert Fee.objects.filter(patron=kept).count() == 1


def test_anonymising_deletes_the_history_that_holds_old_values(district_admin, leaver):
    assert leaver.events.filter(first_name="Ada").exists()
    purge.purge_patrons(actor=district_admin, mode=purge.PurgeMode.ANONYMISE)
    assert not Patron.pgh_event_model.objects.filter(pgh_obj_id=leaver.pk).exists()
    for model in (PatronEmail, PatronPhone, Note, Identifier):
        assert not model.pgh_event_model.objects.filter(patron_id=leaver.pk).exists()
    assert not Patron.pgh_event_model.objects.filter(first_name__in=["Ada", "Augusta"]).exists()
    assert not PatronEmail.pgh_event_model.objects.filter(address="ada@example.org").exists()


def test_deleting_removes_the_record(district_admin, leaver):
    result = purge.purge_patrons(actor=district_admin, mode=purge.PurgeMode.DELETE)
    assert result.purged == 1
    assert not Patron.objects.filter(pk=leaver.pk).exists()
    deleted = OperatorAction.objects.get(action=OperatorAction.Kind.PATRON_DELETED)
    assert deleted.details["barcode"] == "B0001"


def test_the_purge_is_logged(district_admin, leaver):
    purge.purge_patrons(actor=district_admin, mode=purge.PurgeMode.ANONYMISE)
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PURGED)
    assert entry.operator == district_admin
    assert entry.details == {"mode": "anonymise", "count": 1}


def test_a_dry_run_writes_nothing(district_admin, leaver):
    result = purge.purge_patrons(actor=district_admin, mode="delete", dry_run=True)
    assert [p.pk for p in result.would_purge] == [leaver.pk]
    assert Patron.objects.get(pk=leaver.pk).last_name == "Lovelace"
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PURGED).exists()


def test_an_operators_photo_and_grants_go_with_anonymising(district_admin, ams):
    operator = OperatorFactory(level=Level.LIBRARY_STAFF, home_site=ams, purge_date=YESTERDAY)
    purge.purge_patrons(actor=district_admin, mode="anonymise")
    operator.refresh_from_db()
    assert operator.security_group == group_at(Level.PATRON)
    assert not operator.site_access.exists()


# --- the command ------------------------------------------------------------------------


def test_the_command_purges_and_prints_a_summary(district_admin, librarian, ams):
    owes = past_due(ams)
    charge(librarian, owes, ams, "1.00")
    past_due(ams, is_protected=True)
    gone = past_due(ams)
    out = run("--actor", "district")
    assert out.strip().splitlines()[-1] == (
        "purged 1 of 3 candidates (2 skipped: 1 balance not zero, 1 protected)"
    )
    assert Patron.objects.get(pk=gone.pk).last_name == purge.PURGED_NAME


def test_the_command_dry_run_lists_and_writes_nothing(district_admin, ams):
    listed = past_due(ams, barcode="B0042", first_name="Bo", last_name="Dry")
    out = run("--actor", "district", "--dry-run", "--mode", "delete")
    assert "B0042\tBo Dry\tAMS\t" in out
    assert out.strip().splitlines()[-1] == "would purge 1 of 1 candidates"
    assert Patron.objects.get(pk=listed.pk).last_name == "Dry"


def test_the_command_limits_to_a_site(district_admin, ams, jes):
    past_due(ams)
    at_jes = past_due(jes)
    run("--actor", "district", "--site", "jes", "--mode", "delete")
    assert not Patron.objects.filter(pk=at_jes.pk).exists()
    assert Patron.objects.filter(home_site=ams, purge_date=YESTERDAY).count() == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--actor", "libadmin"],  # not a District Administrator
        ["--actor", "nobody"],
        ["--actor", "district", "--site", "NOPE"],
    ],
)
def test_the_command_fails_with_exit_code_1(district_admin, library_admin, ams, args):
    person = past_due(ams)
    with pytest.raises(CommandError):
        run(*args)
    assert Patron.objects.get(pk=person.pk).purge_date == YESTERDAY
    with pytest.raises(SystemExit) as exited:
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "purge_patrons", *args]).execute()
    assert exited.value.code == 1


def test_the_command_requires_an_actor(district_admin):
    with pytest.raises(CommandError):
        run()


# --- the page ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("district_admin", 200),
        ("library_admin", 403),
        ("librarian", 403),
        ("staff", 403),
        ("aide", 403),
        ("patron", 403),
        ("operator_at_other_site", 403),
    ],
)
def test_the_page_is_for_district_administrators(client, request, role, status):
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL).status_code == status


def test_the_page_sends_anonymous_visitors_to_sign_in(client):
    assert client.get(URL).status_code == 302


def test_the_page_lists_candidates_100_a_page(client, district_admin, ams):
    for _ in range(101):
        past_due(ams)
    client.force_login(district_admin)
    first = client.get(URL).content.decode()
    assert "<strong>101</strong> patrons to purge" in first
    assert first.count("<tr>") == 101  # the header row and 100 patrons
    second = client.get(URL + "?page=2").content.decode()
    assert second.count("<tr>") == 2


def test_a_post_purges_the_candidates(client, district_admin, leaver):
    client.force_login(district_admin)
    response = client.post(URL, {"mode": "delete"}, follow=True)
    assert response.status_code == 200
    assert "Purged 1 of 1 candidates" in response.content.decode()
    assert not Patron.objects.filter(pk=leaver.pk).exists()


def test_a_post_with_an_unknown_mode_changes_nothing(client, district_admin, leaver):
    client.force_login(district_admin)
    response = client.post(URL, {"mode": "shred"})
    assert response.status_code == 422
    assert Patron.objects.get(pk=leaver.pk).barcode == "B0001"


@pytest.mark.parametrize("role", ["library_admin", "librarian", "patron"])
def test_a_crafted_post_by_anyone_else_is_refused(client, request, role, leaver):
    client.force_login(request.getfixturevalue(role))
    response = client.post(URL, {"mode": "delete"})
    assert response.status_code == 403
    assert Patron.objects.get(pk=leaver.pk).barcode == "B0001"
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PURGED).exists()


def test_anonymising_removes_the_photo_file_once_committed(
    district_admin, ams, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = tmp_path
    person = past_due(ams)
    person.photo.save("face.jpg", ContentFile(b"jpeg bytes"))
    stored = tmp_path / person.photo.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_patrons(actor=district_admin, mode="anonymise")
    assert not stored.exists()
    assert not Patron.objects.get(pk=person.pk).photo
