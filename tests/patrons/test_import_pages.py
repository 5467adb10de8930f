"""The import pages and command: upload, preview, apply, discard, the invalid rows as CSV,
crafted requests, and export -> import of the same file changing nothing."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from patrons.models import ImportRun, Patron
from tests.factories import PatronFactory
from tests.patrons.importing import stage

pytestmark = pytest.mark.django_db

GOOD = "barcode,last_name,first_name,home_site\nG1,Good,Ann,AMS\n"


@pytest.fixture(autouse=True)
def _inline(settings):
    settings.LIBSTAFF_IMPORT_IN_BACKGROUND = False


def upload(client, content, **fields):
    data = {
        "file": SimpleUploadedFile("roll.csv", content.encode(), content_type="text/csv"),
        "feed": "Student roll",
        "match_on": "barcode",
        "encoding": "",
        **fields,
    }
    return client.post(reverse("patrons:import"), data)


def test_upload_preview_apply(client, librarian, ams):
    existing = PatronFactory(barcode="G2", first_name="Old", last_name="Two", home_site=ams)
    client.force_login(librarian)
    response = upload(client, GOOD + "G2,Two,New,AMS\nG3,,,AMS\n")
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "patrons:import_run", args=[run.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert "Last name: required." in page  # invalid rows are shown first
    assert "Apply the 2 valid changes only" in page
    page = client.get(response["Location"] + "?show=update").content.decode()
    assert "<del>Old</del> → <ins>New</ins>" in page
    response = client.post(reverse("patrons:import_apply", args=[run.pk]), {"valid_only": "on"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "1 patron created, 1 updated" in page
    existing.refresh_from_db()
    assert existing.first_name == "New"
    assert Patron.objects.filter(barcode="G1", import_feed__name="Student roll").exists()


def test_the_list_filters_on_the_feed(client, librarian, ams):
    client.force_login(librarian)
    upload(client, GOOD)
    client.post(reverse("patrons:import_apply", args=[ImportRun.objects.get().pk]))
    PatronFactory(last_name="Staffentered", home_site=ams)
    feed = Patron.objects.get(barcode="G1").import_feed
    page = client.get(reverse("patrons:list"), {"feed": feed.pk}).content.decode()
    assert "Good" in page and "Staffentered" not in page


def test_a_refused_file_says_why(client, librarian):
    client.force_login(librarian)
    response = upload(client, "colour\nblue\n")
    page = client.get(response["Location"]).content.decode()
    assert "Unknown columns: colour." in page and "Nothing was written." in page


def test_form_errors_are_shown_next_to_their_fields(client, librarian):
    client.force_login(librarian)
    response = client.post(reverse("patrons:import"), {"feed": "", "match_on": "nope"})
    assert response.status_code == 422
    assert not ImportRun.objects.exists()
    response = upload(client, GOOD, protected=["password"])
    assert response.status_code == 422


def test_another_operators_run_is_not_found(client, librarian, library_admin, ams, tmp_path):
    run = stage(tmp_path, librarian, GOOD)
    client.force_login(library_admin)
    for name in ("patrons:import_run", "patrons:import_progress", "patrons:import_invalid"):
        assert client.get(reverse(name, args=[run.pk])).status_code == 404
    for name in ("patrons:import_apply", "patrons:import_discard"):
        assert client.post(reverse(name, args=[run.pk])).status_code == 404
    run.refresh_from_db()
    assert run.status == ImportRun.Status.STAGED
    assert not Patron.objects.filter(barcode="G1").exists()


def test_staff_cannot_import_even_by_crafted_post(client, staff):
    client.force_login(staff)
    assert upload(client, GOOD).status_code == 403
    assert not ImportRun.objects.exists()


def test_applying_twice_or_after_discarding_is_refused(client, librarian, ams, tmp_path):
    client.force_login(librarian)
    run = stage(tmp_path, librarian, GOOD)
    client.post(reverse("patrons:import_apply", args=[run.pk]))
    response = client.post(reverse("patrons:import_apply", args=[run.pk]))
    assert response.status_code == 409 and "not waiting to be applied" in response.content.decode()
    assert Patron.objects.filter(barcode="G1").count() == 1
    other = stage(tmp_path, librarian, GOOD.replace("G1", "G9"))
    assert client.post(reverse("patrons:import_discard", args=[other.pk])).status_code == 302
    assert client.post(reverse("patrons:import_apply", args=[other.pk])).status_code == 409
    assert not other.rows.exists() and not Patron.objects.filter(barcode="G9").exists()


def test_the_invalid_rows_download_has_every_one(client, librarian, ams, tmp_path):
    rows = "".join(f"X{n},,,AMS\n" for n in range(60))
    run = stage(tmp_path, librarian, "barcode,last_name,first_name,home_site\n" + rows)
    client.force_login(librarian)
    response = client.get(reverse("patrons:import_invalid", args=[run.pk]))
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert lines[0] == ["line", "reasons", "barcode", "last_name", "first_name", "home_site"]
    assert len(lines) == 61
    assert lines[1] == ["2", "Last name: required.", "X0", "", "", "AMS"]


def test_the_preview_pages_through_every_row(client, librarian, ams, tmp_path):
    rows = "".join(f"P{n:03d},Name{n},,AMS\n" for n in range(120))
    run = stage(tmp_path, librarian, "barcode,last_name,first_name,home_site\n" + rows)
    client.force_login(librarian)
    url = reverse("patrons:import_run", args=[run.pk])
    first = client.get(url, {"show": "create"}).content.decode()
    assert "P049" in first and "P050" not in first and "after=51" in first
    second = client.get(url, {"show": "create", "after": "51"}).content.decode()
    assert "P050" in second and "P099" in second and "P100" not in second
    for after in ("x", "99999999999999999999", "-1"):
        assert client.get(url, {"show": "nonsense", "after": after}).status_code == 200


def test_the_preview_costs_the_same_queries_for_1_or_50_rows(
    client, librarian, ams, tmp_path, django_assert_max_num_queries
):
    one = stage(tmp_path, librarian, GOOD)
    many = stage(
        tmp_path,
        librarian,
        "barcode,last_name,home_site\n" + "".join(f"M{n},N,AMS\n" for n in range(50)),
    )
    client.force_login(librarian)
    for run in (one, many):
        with django_assert_max_num_queries(14):
            assert client.get(reverse("patrons:import_run", args=[run.pk])).status_code == 200


def test_progress_reloads_the_page_when_done(client, librarian, ams, tmp_path):
    run = stage(tmp_path, librarian, GOOD)
    client.force_login(librarian)
    url = reverse("patrons:import_progress", args=[run.pk])
    assert client.get(url, headers={"HX-Request": "true"})["HX-Refresh"] == "true"
    ImportRun.objects.filter(pk=run.pk).update(
        status="applying", done=5, total=10, phase="Updating"
    )
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'value="50"' in page and "Updating" in page and "50% done" in page


def test_a_field_changed_by_hand_shows_on_the_personal_tab_and_reverts(client, librarian, ams):
    client.force_login(librarian)
    upload(client, GOOD)
    client.post(reverse("patrons:import_apply", args=[ImportRun.objects.get().pk]))
    patron = Patron.objects.get(barcode="G1")
    Patron.objects.filter(pk=patron.pk).update(first_name="Annie")
    tab = reverse("patrons:tab", args=[patron.pk, "personal"])
    page = client.get(tab).content.decode()
    assert "Changed by hand" in page and 'the import has "Ann"' in page
    revert = reverse("patrons:revert_imported", args=[patron.pk, "first_name"])
    assert client.post(revert, {"version": "999"}).status_code == 302  # stale: said, not saved
    patron.refresh_from_db()
    assert patron.first_name == "Annie"
    client.post(revert, {"version": str(patron.version)})
    patron.refresh_from_db()
    assert patron.first_name == "Ann"
    assert "Changed by hand" not in client.get(tab).content.decode()


def test_revert_of_a_field_never_imported_changes_nothing(client, librarian, ams):
    target = PatronFactory(home_site=ams, first_name="Kept")
    client.force_login(librarian)
    url = reverse("patrons:revert_imported", args=[target.pk, "first_name"])
    assert client.post(url, {"version": "1"}).status_code == 302
    url = reverse("patrons:revert_imported", args=[target.pk, "no_such_field"])
    assert client.post(url, {"version": "1"}).status_code == 302
    target.refresh_from_db()
    assert target.first_name == "Kept"


def test_export_then_import_changes_nothing(client, library_admin, ams, jes, tmp_path):
    for n in range(5):
        PatronFactory(
            home_site=ams, first_name=f"=cmd{n}", last_name="-Minus", cohort="+plus", gender="@at"
        )
    PatronFactory(home_site=ams, barcode=None, username=None)
    client.force_login(library_admin)
    exported = b"".join(client.get(reverse("patrons:export"), {"site": ams.pk}).streaming_content)
    run = stage(tmp_path, library_admin, exported.replace(b"\r\n", b"\n"), match_on="username")
    counts = {k: run.counts[k] for k in ("create", "update", "unchanged", "invalid")}
    with_username = Patron.objects.filter(home_site=ams, username__isnull=False).count()
    assert counts == {"create": 0, "update": 0, "unchanged": with_username, "invalid": 1}
    (row,) = run.rows.filter(action="invalid")
    assert "empty, and the import matches on it" in row.errors[0]  # the one without username


# --- the command --------------------------------------------------------------------------


def test_the_command_applies_and_says_so(tmp_path, librarian, ams, capsys):
    path = tmp_path / "roll.csv"
    path.write_text(GOOD)
    call_command("import_patrons", str(path), "--actor", "librarian", "--feed", "Roll")
    out = capsys.readouterr().out
    assert out.strip().endswith("1 to create, 0 to update, 0 unchanged, 0 invalid; applied")
    assert Patron.objects.filter(barcode="G1").exists()


def test_the_command_dry_run_writes_nothing(tmp_path, librarian, ams, capsys):
    path = tmp_path / "roll.csv"
    path.write_text(GOOD)
    call_command("import_patrons", str(path), "--actor", "librarian", "--feed", "Roll", "--dry-run")
    assert "dry run: nothing written" in capsys.readouterr().out
    assert not Patron.objects.filter(barcode="G1").exists()
    assert ImportRun.objects.get().status == ImportRun.Status.DISCARDED


@pytest.mark.parametrize(
    ("content", "code", "said"),
    [
        (GOOD + "G2,,,AMS\n", 1, "line 3: Last name: required."),
        ("colour\nblue\n", 2, "Unknown columns: colour."),
    ],
)
def test_the_command_exit_status(tmp_path, librarian, ams, capsys, content, code, said):
    path = tmp_path / "roll.csv"
    path.write_text(content)
    with pytest.raises(CommandError) as raised:
        call_command("import_patrons", str(path), "--actor", "librarian", "--feed", "Roll")
    assert raised.value.returncode == code
    assert said in capsys.readouterr().err
    assert not Patron.objects.filter(barcode="G1").exists()


def test_the_command_refuses_an_unknown_actor_or_a_missing_file(tmp_path, librarian):
    with pytest.raises(CommandError) as raised:
        call_command("import_patrons", "x.csv", "--actor", "nobody", "--feed", "Roll")
    assert raised.value.returncode == 2
    with pytest.raises(CommandError, match="Not imported"):
        call_command(
            "import_patrons",
            str(tmp_path / "missing.csv"),
            "--actor",
            "librarian",
            "--feed",
            "Roll",
        )


def test_an_interrupted_run_can_be_discarded(client, librarian, ams, tmp_path):
    import datetime

    from django.utils import timezone

    run = stage(tmp_path, librarian, GOOD)
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    ImportRun.objects.filter(pk=run.pk).update(status="applying", heartbeat_at=long_ago)
    client.force_login(librarian)
    page = client.get(reverse("patrons:import_run", args=[run.pk])).content.decode()
    assert "stopped answering" in page
    assert client.post(reverse("patrons:import_discard", args=[run.pk])).status_code == 302
    ImportRun.objects.filter(pk=run.pk).update(status="applying", heartbeat_at=timezone.now())
    assert client.post(reverse("patrons:import_discard", args=[run.pk])).status_code == 409
