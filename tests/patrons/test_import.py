"""The import: staging (nothing written), the checks of every rule on both sides, applying
all or nothing, protected and hand-changed fields, deactivation of the missing."""

import datetime

import pghistory.models
import pytest

from patrons import import_selectors
from patrons.models import ImportedValues, ImportRun, Patron, PatronEmail
from patrons.services import imports, patron_update
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory, group_at
from tests.patrons.importing import apply, errors_by_line, stage

pytestmark = pytest.mark.django_db

HEADER = "barcode,last_name,first_name,home_site,email,birth_date\n"


def test_staging_writes_nothing_and_shows_each_kind_of_row(tmp_path, librarian, ams):
    existing = PatronFactory(barcode="B2", last_name="Jones", first_name="Al", home_site=ams)
    same = PatronFactory(barcode="B3", last_name="Same", first_name="", home_site=ams, email="")
    before = Patron.objects.count()
    run = stage(
        tmp_path,
        librarian,
        HEADER + "B1,Smith,Ann,AMS,ann@example.org,2012-03-04\n"
        "B2,Jones,Alan,AMS,al@example.org,\n"
        "B3,Same,,AMS,,\n"
        "B4,Bad,,AMS,not-an-email,31/12/2010\n",
    )
    assert run.status == ImportRun.Status.STAGED
    assert {k: run.counts[k] for k in ("create", "update", "unchanged", "invalid")} == {
        "create": 1,
        "update": 1,
        "unchanged": 1,
        "invalid": 1,
    }
    assert Patron.objects.count() == before
    update = run.rows.get(action="update")
    assert update.patron_id == existing.pk
    assert update.diff["first_name"] == ["Al", "Alan"]
    assert run.rows.get(action="unchanged").patron_id == same.pk
    (errors,) = errors_by_line(run).values()
    assert any("not-an-email" in error for error in errors)
    assert any("31/12/2010" in error and "YYYY-MM-DD" in error for error in errors)


def test_applying_creates_and_updates_with_history_and_emails(tmp_path, librarian, ams):
    existing = PatronFactory(barcode="B2", last_name="Jones", first_name="Al", home_site=ams)
    run = stage(
        tmp_path,
        librarian,
        HEADER + "B1,Smith,Ann,AMS,Ann@Example.ORG,2012-03-04\nB2,Jones,Alan,AMS,al@example.org,\n",
    )
    run = apply(librarian, run)
    assert run.status == ImportRun.Status.APPLIED, run.message
    assert (run.counts["created"], run.counts["updated"]) == (1, 1)
    new = Patron.objects.get(barcode="B1")
    assert (new.first_name, new.birth_date) == ("Ann", datetime.date(2012, 3, 4))
    assert new.email == "Ann@example.org"
    assert new.source == Patron.Source.IMPORT and new.import_feed.name == "Student roll"
    assert new.security_group == group_at(Level.PATRON)
    assert not new.has_usable_password() and new.created_by == librarian
    assert list(new.emails.values_list("address", "is_primary")) == [("Ann@example.org", True)]
    existing.refresh_from_db()
    assert existing.first_name == "Alan" and existing.version == 2
    assert existing.emails.get(is_primary=True).address == "al@example.org"
    event = existing.events.order_by("-pgh_id").first()
    context = pghistory.models.Context.objects.get(pk=event.pgh_context_id)
    assert context.metadata["user"] == librarian.pk
    logged = OperatorAction.objects.get(action=OperatorAction.Kind.IMPORT)
    assert logged.operator == librarian and logged.details["created"] == 1


def test_an_import_writes_what_the_record_tabs_would_have(tmp_path, library_admin, ams):
    """Rule 6 (the home site joins an operator's access) and the email rule, per row."""
    run = stage(
        tmp_path,
        library_admin,
        "barcode,last_name,home_site,security_group,email\n"
        "A1,Aide,AMS,Library Aide,\n"
        "L1,Librarian,AMS,Librarian,\n"
        "L2,Librarian,AMS,Librarian,l2@example.org\n",
    )
    errors = errors_by_line(run)
    assert list(errors) == [3]
    assert "email address is required" in errors[3][0]
    apply(library_admin, run, valid_only=True)
    aide = Patron.objects.get(barcode="A1")
    assert list(aide.site_access.all()) == [ams]
    assert Patron.objects.get(barcode="L2").security_group.level == Level.LIBRARIAN
    assert not Patron.objects.filter(barcode="L1").exists()


# --- the file itself ----------------------------------------------------------------------


def test_windows_1252_semicolons_and_a_bom_are_read(tmp_path, librarian, ams):
    run = stage(
        tmp_path, librarian, "barcode;last_name;home_site\nW1;Müller;AMS\n".encode("cp1252")
    )
    assert (run.encoding, run.delimiter) == ("cp1252", ";")
    apply(librarian, run)
    assert Patron.objects.get(barcode="W1").last_name == "Müller"
    run = stage(tmp_path, librarian, "\ufeffBarcode\tLast Name\tHome-Site\nW2\tØdegård\tams\n")
    assert (run.encoding, run.delimiter, run.counts["create"]) == ("utf-8-sig", "\t", 1)


def test_a_chosen_encoding_wins_over_detection(tmp_path, librarian, ams):
    run = stage(
        tmp_path,
        librarian,
        "barcode,last_name,home_site\nE1,Ñandú,AMS\n".encode("latin-1"),
        encoding="latin-1",
    )
    assert run.rows.get().last_name == "Ñandú"


# --- matching -----------------------------------------------------------------------------


def test_matching_on_username_ignores_case(tmp_path, librarian, ams):
    kim = PatronFactory(username="Kim.Lee", first_name="Kim", home_site=ams)
    run = stage(tmp_path, librarian, "username,first_name\nkim.lee,Kimberly\n", match_on="username")
    assert run.rows.get().patron_id == kim.pk and run.counts["update"] == 1


def test_an_admin_id_shared_by_two_patrons_matches_nobody(tmp_path, librarian, ams):
    PatronFactory(admin_system_id="S-1", home_site=ams)
    PatronFactory(admin_system_id="S-1", home_site=ams)
    single = PatronFactory(admin_system_id="S-2", home_site=ams, first_name="One")
    run = stage(
        tmp_path,
        librarian,
        "admin_system_id,first_name\nS-1,X\nS-2,Two\n",
        match_on="admin_system_id",
    )
    assert "shared by 2 patrons" in errors_by_line(run)[2][0]
    assert run.rows.get(line=3).patron_id == single.pk


def test_the_key_column_is_required_and_a_row_needs_a_key(tmp_path, librarian, ams):
    run = stage(tmp_path, librarian, "last_name,home_site\nSmith,AMS\n")
    assert run.status == ImportRun.Status.REFUSED
    assert "no barcode column" in run.file_errors[0]
    run = stage(tmp_path, librarian, "barcode,last_name,home_site\n,Smith,AMS\n")
    assert "empty, and the import matches on it" in errors_by_line(run)[2][0]


# --- duplicates ---------------------------------------------------------------------------


def test_duplicates_within_the_file_name_every_line(tmp_path, librarian, ams):
    run = stage(
        tmp_path,
        librarian,
        "admin_system_id,barcode,username,last_name,home_site\n"
        "1,D1,u1,A,AMS\n2,D1,U2,B,AMS\n3,D3,u2,C,AMS\n4,D4,u4,D,AMS\n",
        match_on="admin_system_id",
    )
    errors = errors_by_line(run)
    assert "Barcode D1 appears on lines 2, 3." in errors[2]
    assert any("appears on lines 3, 4" in error for error in errors[4])
    assert 5 not in errors


def test_a_barcode_or_username_another_patron_has_is_refused(tmp_path, librarian, ams, jes):
    PatronFactory(barcode="T1", username="taken", home_site=jes)
    run = stage(
        tmp_path,
        librarian,
        "admin_system_id,barcode,username,last_name,home_site\n1,T1,new,A,AMS\n2,T2,TAKEN,B,AMS\n",
        match_on="admin_system_id",
    )
    errors = errors_by_line(run)
    assert errors[2] == ["Barcode T1 is already used by another patron."]
    assert errors[3] == ["Username TAKEN is already used by another patron."]


# --- the policy ---------------------------------------------------------------------------


def test_scope_a_patron_or_a_site_outside_it_is_invalid(tmp_path, librarian, ams, jes):
    far = PatronFactory(barcode="F1", home_site=jes, first_name="Far")
    near = PatronFactory(barcode="N1", home_site=ams, first_name="Near")
    run = stage(
        tmp_path,
        librarian,
        "barcode,last_name,first_name,home_site\n"
        f"F1,{far.last_name},Changed,JES\nN1,{near.last_name},Near,JES\nC1,New,,JES\nC2,New,,AMS\n",
    )
    errors = errors_by_line(run)
    assert "Matches a patron you cannot change" in errors[2][0]
    assert errors[3] == ["Home site: you cannot move patrons to JES."]
    assert errors[4] == ["Home site: you cannot register patrons at JES."]
    assert run.counts["create"] == 1
    apply(librarian, run, valid_only=True)
    far.refresh_from_db()
    assert far.first_name == "Far" and far.version == 1


def test_a_row_that_makes_someone_library_administrator_is_refused(tmp_path, librarian, ams):
    target = PatronFactory(barcode="P1", home_site=ams)
    run = stage(
        tmp_path,
        librarian,
        "barcode,last_name,home_site,security_group,email\n"
        f"P1,{target.last_name},AMS,Library Administrator,a@example.org\n"
        "P2,New,AMS,Librarian,b@example.org\nP3,New,AMS,Patron,\n",
    )
    errors = errors_by_line(run)
    assert "Library Administrator is at or above your own level" in errors[2][0]
    assert "Librarian is at or above your own level" in errors[3][0]
    assert run.counts["create"] == 1
    assert apply(librarian, run).status == ImportRun.Status.STAGED  # all or nothing
    target.refresh_from_db()
    assert target.security_group.level == Level.PATRON


def test_staff_groups_need_the_give_staff_groups_permission(tmp_path, librarian, ams):
    run = stage(
        tmp_path, librarian, "barcode,last_name,home_site,security_group\nS1,S,AMS,Library Staff\n"
    )
    assert (
        "Library Staff is at or above your own level, or not a group you may give"
        in (errors_by_line(run)[2][0])
    )


def test_with_give_staff_groups_a_librarian_imports_staff(
    tmp_path, librarians_give_staff_groups, librarian, ams
):
    run = stage(
        tmp_path, librarian, "barcode,last_name,home_site,security_group\nS1,S,AMS,Library Staff\n"
    )
    assert run.counts["create"] == 1
    apply(librarian, run)
    staff = Patron.objects.get(barcode="S1")
    assert staff.security_group.level == Level.LIBRARY_STAFF
    assert list(staff.site_access.all()) == [ams]


def test_a_patron_at_the_importers_level_is_out_of_reach(tmp_path, librarian, ams):
    peer = OperatorFactory(barcode="PEER", level=Level.LIBRARIAN, home_site=ams, first_name="Peer")
    run = stage(tmp_path, librarian, "barcode,first_name\nPEER,Changed\n")
    assert "Matches a patron you cannot change" in errors_by_line(run)[2][0]
    peer.refresh_from_db()
    assert peer.first_name == "Peer"


def test_an_importer_never_changes_their_own_record(tmp_path, librarian):
    run = stage(tmp_path, librarian, f"barcode,first_name\n{librarian.barcode},Me\n")
    assert run.counts["invalid"] == 1


def test_district_administrators_are_not_changed_by_imports(tmp_path, district_admin, ams):
    other = OperatorFactory(barcode="DA2", level=Level.DISTRICT_ADMINISTRATOR, home_site=ams)
    run = stage(tmp_path, district_admin, "barcode,status,security_group\nDA2,inactive,\n")
    assert "District Administrator" in errors_by_line(run)[2][0]
    run = stage(tmp_path, district_admin, "barcode,username,first_name\nDA2,,Other\n")
    assert "District Administrator" in errors_by_line(run)[2][0]
    other.refresh_from_db()
    assert other.is_active and other.username
    same = f"barcode,username,first_name\nDA2,{other.username},{other.first_name}\n"
    assert stage(tmp_path, district_admin, same).counts["unchanged"] == 1


def test_an_unknown_site_type_or_group_is_named(tmp_path, librarian, ams):
    run = stage(
        tmp_path,
        librarian,
        "barcode,last_name,home_site,patron_type,security_group\nU1,X,NOPE,nope,Wizards\n",
    )
    errors = errors_by_line(run)[2]
    assert "Home site: no site has the code 'NOPE'." in errors
    assert "Patron type: no patron type has the code 'nope'." in errors
    assert "Security group: no security group is named 'Wizards'." in errors


def test_the_importer_needs_the_import_permission(tmp_path, staff):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        stage(tmp_path, staff, "barcode,last_name,home_site\nX,Y,AMS\n")


# --- all or nothing, stale previews, someone else's run -----------------------------------


def test_invalid_rows_stop_the_whole_import_unless_valid_only(tmp_path, librarian, ams):
    run = stage(tmp_path, librarian, "barcode,last_name,home_site\nV1,Good,AMS\nV2,,AMS\n")
    run = apply(librarian, run)
    assert run.status == ImportRun.Status.STAGED and "1 rows are invalid" in run.message
    assert not Patron.objects.filter(barcode="V1").exists()
    run = apply(librarian, run, valid_only=True)
    assert run.status == ImportRun.Status.APPLIED
    assert Patron.objects.filter(barcode="V1").exists()


def test_a_preview_is_stale_when_a_matched_patron_changed_since(tmp_path, librarian, ams):
    target = PatronFactory(barcode="S1", first_name="Old", home_site=ams)
    run = stage(tmp_path, librarian, "barcode,first_name\nS1,New\n")
    patron_update(
        actor=librarian, patron=target, action="patrons.edit_personal", version=1, first_name="Hand"
    )
    run = apply(librarian, run)
    assert run.status == ImportRun.Status.FAILED and "changed since this preview" in run.message
    target.refresh_from_db()
    assert target.first_name == "Hand"


def test_a_preview_is_stale_when_a_barcode_was_taken_since(tmp_path, librarian, ams):
    run = stage(tmp_path, librarian, "barcode,last_name,home_site\nNEW1,New,AMS\n")
    PatronFactory(barcode="NEW1", home_site=ams)
    assert apply(librarian, run).status == ImportRun.Status.FAILED
    assert Patron.objects.filter(barcode="NEW1").count() == 1


def test_nobody_applies_or_discards_another_operators_run(tmp_path, librarian, library_admin, ams):
    from django.core.exceptions import PermissionDenied

    run = stage(tmp_path, librarian, "barcode,last_name,home_site\nO1,Other,AMS\n")
    with pytest.raises(PermissionDenied):
        imports.import_begin_apply(
            actor=library_admin, run=run, valid_only=False, confirm_deactivation=False
        )
    with pytest.raises(PermissionDenied):
        imports.import_discard(actor=library_admin, run=run)
    assert not Patron.objects.filter(barcode="O1").exists()


def test_a_run_is_applied_once(tmp_path, librarian, ams):
    from django.core.exceptions import ValidationError

    run = stage(tmp_path, librarian, "barcode,last_name,home_site\nONCE,Once,AMS\n")
    apply(librarian, run)
    with pytest.raises(ValidationError, match="not waiting"):
        apply(librarian, run)
    assert Patron.objects.filter(barcode="ONCE").count() == 1


# --- protected columns and changes by hand -----------------------------------------------


def test_protected_columns_are_never_overwritten(tmp_path, librarian, ams):
    target = PatronFactory(barcode="K1", first_name="Kept", last_name="Old", home_site=ams)
    run = stage(
        tmp_path,
        librarian,
        "barcode,first_name,last_name\nK1,Other,New\n",
        protected=["first_name"],
    )
    apply(librarian, run)
    target.refresh_from_db()
    assert (target.first_name, target.last_name) == ("Kept", "New")


def test_a_field_changed_by_hand_is_kept_by_the_next_import(tmp_path, librarian, ams):
    apply(
        librarian,
        stage(tmp_path, librarian, "barcode,last_name,first_name,home_site\nH1,Hill,Jon,AMS\n"),
    )
    patron = Patron.objects.get(barcode="H1")
    assert import_selectors.changed_by_hand(patron) == []
    patron_update(
        actor=librarian, patron=patron, action="patrons.edit_personal", version=1, first_name="John"
    )
    patron.refresh_from_db()
    (changed,) = import_selectors.changed_by_hand(patron)
    assert (changed.name, changed.imported) == ("first_name", "Jon")
    run = stage(
        tmp_path, librarian, "barcode,last_name,first_name,home_site\nH1,Hillary,Jonny,AMS\n"
    )
    row = run.rows.get()
    assert row.kept == ["first_name"] and list(row.diff) == ["last_name"]
    apply(librarian, run)
    patron.refresh_from_db()
    assert (patron.first_name, patron.last_name) == ("John", "Hillary")
    (changed,) = import_selectors.changed_by_hand(patron)
    assert changed.imported == "Jonny"  # what the feed says now
    imports.revert_imported_value(
        actor=librarian, patron=patron, name="first_name", version=patron.version
    )
    patron.refresh_from_db()
    assert patron.first_name == "Jonny" and import_selectors.changed_by_hand(patron) == []


def test_revert_goes_through_the_policy(tmp_path, librarian, operator_at_other_site, ams):
    from django.core.exceptions import PermissionDenied

    apply(librarian, stage(tmp_path, librarian, "barcode,last_name,home_site\nR1,Roe,AMS\n"))
    patron = Patron.objects.get(barcode="R1")
    with pytest.raises(PermissionDenied):
        imports.revert_imported_value(
            actor=operator_at_other_site, patron=patron, name="last_name", version=patron.version
        )


def test_imported_values_are_kept_per_patron(tmp_path, librarian, ams):
    apply(
        librarian,
        stage(
            tmp_path, librarian, "barcode,last_name,birth_date,home_site\nI1,Ives,2011-02-03,AMS\n"
        ),
    )
    values = ImportedValues.objects.get(patron__barcode="I1").values
    assert values["birth_date"] == "2011-02-03" and values["last_name"] == "Ives"
    assert values["home_site_id"] == ams.pk


# --- deactivating the patrons missing from the file ---------------------------------------


def _feed_patrons(tmp_path, librarian, count, site_code="AMS"):
    rows = "".join(f"M{n},Member{n},{site_code}\n" for n in range(count))
    apply(librarian, stage(tmp_path, librarian, "barcode,last_name,home_site\n" + rows))


def test_missing_patrons_of_the_feed_at_the_files_sites_are_deactivated(
    tmp_path, library_admin, ams, jes
):
    _feed_patrons(tmp_path, library_admin, 20)
    _feed_patrons_jes = PatronFactory(barcode="J1", home_site=jes)
    staff_entered = PatronFactory(barcode="SE1", home_site=ams)
    rows = "".join(f"M{n},Member{n},AMS\n" for n in range(1, 20))  # M0 is missing
    run = stage(
        tmp_path, library_admin, "barcode,last_name,home_site\n" + rows, deactivate_missing=True
    )
    assert run.deactivations == [{"site": "AMS", "count": 1, "active": 22, "over_limit": False}]
    apply(library_admin, run)
    assert Patron.objects.get(barcode="M0").status == Patron.Status.INACTIVE
    assert Patron.objects.get(barcode="M1").status == Patron.Status.ACTIVE
    staff_entered.refresh_from_db()
    _feed_patrons_jes.refresh_from_db()
    assert staff_entered.is_active and _feed_patrons_jes.is_active


def test_a_truncated_file_stops_for_a_confirmation(tmp_path, library_admin, ams):
    _feed_patrons(tmp_path, library_admin, 20)
    run = stage(
        tmp_path,
        library_admin,
        "barcode,last_name,home_site\nM0,Member0,AMS\n",
        deactivate_missing=True,
    )
    assert run.deactivations[0]["over_limit"] is True
    run = apply(library_admin, run)
    assert (
        run.status == ImportRun.Status.STAGED and "confirm that the file is complete" in run.message
    )
    assert Patron.objects.filter(barcode__startswith="M", status="active").count() == 20
    run = apply(library_admin, run, confirm_deactivation=True)
    assert run.status == ImportRun.Status.APPLIED and run.counts["deactivated"] == 19


def test_deactivation_reaches_only_patrons_the_importer_may_change(
    tmp_path, librarian, library_admin, ams
):
    _feed_patrons(tmp_path, library_admin, 3)
    colleague = Patron.objects.get(barcode="M2")
    colleague.security_group = group_at(Level.LIBRARIAN)
    colleague.email = "m2@example.org"
    colleague.save()
    run = stage(
        tmp_path,
        librarian,
        "barcode,last_name,home_site\nM0,Member0,AMS\n",
        deactivate_missing=True,
    )
    apply(librarian, run, confirm_deactivation=True)
    assert Patron.objects.get(barcode="M1").status == Patron.Status.INACTIVE
    assert Patron.objects.get(barcode="M2").status == Patron.Status.ACTIVE


def test_primary_email_change_keeps_the_old_address(tmp_path, librarian, ams):
    apply(
        librarian,
        stage(tmp_path, librarian, "barcode,last_name,home_site,email\nE1,E,AMS,old@example.org\n"),
    )
    apply(librarian, stage(tmp_path, librarian, "barcode,email\nE1,new@example.org\n"))
    patron = Patron.objects.get(barcode="E1")
    assert patron.email == "new@example.org"
    assert set(PatronEmail.objects.filter(patron=patron).values_list("address", "is_primary")) == {
        ("old@example.org", False),
        ("new@example.org", True),
    }
    events = PatronEmail.pgh_event_model.objects.filter(patron=patron).order_by("pgh_id")
    assert [(e.pgh_label, e.address, e.is_primary) for e in events] == [
        ("insert", "old@example.org", True),
        ("insert", "new@example.org", True),
        ("update", "old@example.org", False),
    ]
    assert {e.pgh_context.metadata["user"] for e in events} == {librarian.pk}
    labels = list(patron.events.order_by("pgh_id").values_list("pgh_label", "version"))
    assert labels == [("insert", 1), ("update", 2)]
