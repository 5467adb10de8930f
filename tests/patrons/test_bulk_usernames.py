"""Bulk usernames: a list or a rule, a preview that writes nothing and names every problem,
then an all-or-nothing apply that a crafted or stale POST cannot misuse."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from patrons.forms import usernames as forms
from patrons.models import Patron, PatronType
from patrons.services import usernames as service
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db

URL = reverse("patrons:usernames")
Kind = OperatorAction.Kind


def upload(client, content: bytes | str, name="usernames.csv"):
    if isinstance(content, str):
        content = content.encode("utf-8")
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(URL, {"step": "upload", "file": file})


def apply(client, preview):
    """Press the preview's apply button: post the plan it carries."""
    plan = re.search(r'name="plan" value="([^"]+)"', preview.content.decode())
    assert plan is not None, "the preview offers no apply button"
    return client.post(URL, {"step": "apply", "plan": plan.group(1)})


def usernames(*patrons) -> list[str | None]:
    return [Patron.objects.get(pk=patron.pk).username for patron in patrons]


def page(response) -> str:
    return response.content.decode()


def escaped(message: str) -> str:
    """As the page writes it (Django escapes quotes)."""
    return message.replace("'", "&#x27;").replace('"', "&quot;")


@pytest.fixture
def alice(ams):
    return PatronFactory(home_site=ams, username="alice", email="Alice.Smith@Example.org")


@pytest.fixture
def bob(ams):
    return PatronFactory(home_site=ams, username="bob", email="bob@example.org", barcode="B-42")


# --- from a list -------------------------------------------------------------------------------


def test_a_list_is_previewed_then_applied(client, librarian, alice, bob):
    client.force_login(librarian)
    preview = upload(client, "\ufeffold,new\r\nalice,alice.smith\r\nBOB,robert\r\n")
    assert preview.status_code == 200
    assert "alice.smith" in page(preview) and "robert" in page(preview)
    assert usernames(alice, bob) == ["alice", "bob"]  # the preview writes nothing
    versions = Patron.objects.get(pk=alice.pk).version
    applied = apply(client, preview)
    assert applied.status_code == 302
    assert usernames(alice, bob) == ["alice.smith", "robert"]
    changed = Patron.objects.get(pk=alice.pk)
    assert changed.version == versions + 1
    assert changed.updated_by == librarian


def test_a_list_without_header_nor_bom(client, librarian, alice):
    client.force_login(librarian)
    assert apply(client, upload(client, "alice,a.smith\n")).status_code == 302
    assert usernames(alice) == ["a.smith"]


def test_a_swap_and_a_case_change_in_one_batch(client, librarian, alice, bob, ams):
    carol = PatronFactory(home_site=ams, username="carol")
    client.force_login(librarian)
    preview = upload(client, "alice,bob\nbob,alice\ncarol,Carol\n")
    assert preview.status_code == 200
    assert apply(client, preview).status_code == 302
    assert usernames(alice, bob, carol) == ["bob", "alice", "Carol"]


def test_history_and_one_log_line(client, librarian, alice, bob):
    client.force_login(librarian)
    apply(client, upload(client, "alice,a1\nbob,b1\n"))
    event = Patron.objects.get(pk=alice.pk).events.order_by("-pgh_id").first()
    assert event.username == "a1"
    assert event.pgh_context.metadata["user"] == librarian.pk
    entry = OperatorAction.objects.get(action=Kind.USERNAMES)
    assert entry.operator == librarian
    assert entry.details == {"count": 2, "changes": ["alice → a1", "bob → b1"]}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("alice,bob\n", service.TAKEN.format(new="bob")),
        ("alice,BOB\n", service.TAKEN.format(new="BOB")),
        ("alice,same\nbob,SAME\n", service.DUPLICATE_NEW.format(new="same")),
        ("alice,new one\n", service.INVALID.format(new="new one")),
        ("alice,o'brien\n", service.INVALID.format(new="o'brien")),
        ("alice," + "x" * 151 + "\n", service.INVALID.format(new="x" * 150)),
        ("alice,\n", service.NEW_EMPTY),
        ("nobody,somebody\n", service.NOT_FOUND.format(old="nobody")),
        (",somebody\n", service.OLD_EMPTY),
    ],
)
def test_problems_are_shown_and_nothing_can_be_applied(
    client, librarian, alice, bob, rows, message
):
    client.force_login(librarian)
    preview = upload(client, rows)
    assert preview.status_code == 422
    assert escaped(message) in page(preview)
    assert 'name="plan"' not in page(preview)
    assert usernames(alice, bob) == ["alice", "bob"]


def test_the_same_patron_twice_is_a_problem(client, librarian, alice):
    client.force_login(librarian)
    preview = upload(client, "alice,one\nALICE,two\n")
    assert preview.status_code == 422
    assert escaped(service.DUPLICATE_OLD.format(name=alice.display_name)) in page(preview)


def test_a_patron_out_of_scope_is_not_found(client, librarian, jes):
    outsider = PatronFactory(home_site=jes, username="outsider")
    client.force_login(librarian)
    preview = upload(client, "outsider,inside\n")
    assert preview.status_code == 422
    assert escaped(service.NOT_FOUND.format(old="outsider")) in page(preview)
    assert outsider.display_name not in page(preview)
    assert usernames(outsider) == ["outsider"]


def test_a_librarian_cannot_rename_another_librarian(client, librarian, ams):
    colleague = OperatorFactory(home_site=ams, level=Level.LIBRARIAN, username="colleague")
    client.force_login(librarian)
    preview = upload(client, "colleague,renamed\n")
    assert preview.status_code == 422
    assert escaped(service.NOT_BELOW.format(name=colleague.display_name)) in page(preview)
    assert usernames(colleague) == ["colleague"]


def test_nobody_renames_their_own_account_in_bulk(client, librarian):
    client.force_login(librarian)
    preview = upload(client, "librarian,me\n")
    assert preview.status_code == 422
    assert usernames(librarian) == ["librarian"]


def test_the_last_district_administrator_keeps_a_username(client, district_admin):
    client.force_login(district_admin)
    preview = upload(client, "district,\n")
    assert preview.status_code == 422
    assert escaped(service.NEW_EMPTY) in page(preview)
    assert usernames(district_admin) == ["district"]


def test_a_district_administrator_renames_anyone(client, district_admin, librarian, jes):
    outsider = PatronFactory(home_site=jes, username="outsider")
    client.force_login(district_admin)
    assert apply(client, upload(client, "librarian,lib\noutsider,out\n")).status_code == 302
    assert usernames(librarian, outsider) == ["lib", "out"]


# --- by a rule ---------------------------------------------------------------------------------


def test_the_email_rule(client, librarian, alice, bob, ams, ams_branch, jes):
    no_email = PatronFactory(home_site=ams, username="noemail", email="")
    branch = PatronFactory(home_site=ams_branch, username="branch", email="Branch.Kid@x.org")
    elsewhere = PatronFactory(home_site=jes, username="elsewhere", email="far@x.org")
    client.force_login(librarian)
    preview = client.post(URL, {"step": "rule", "rule": "email", "site": ams.pk})
    assert preview.status_code == 200
    assert escaped(service.NO_EMAIL) in page(preview)
    assert apply(client, preview).status_code == 302
    assert usernames(alice, bob, branch, no_email, elsewhere) == [
        "alice.smith",
        "bob",  # already the local part: skipped
        "branch.kid",
        "noemail",
        "elsewhere",
    ]
    assert usernames(librarian) == ["librarian"]  # at the operator's level: not in the batch


def test_the_barcode_rule_for_patrons_without_a_username_of_one_type(client, librarian, ams):
    student = PatronType.objects.create(code="STU", name="Student")
    nameless = PatronFactory(home_site=ams, username=None, barcode="S-1", patron_type=student)
    named = PatronFactory(home_site=ams, username="named", barcode="S-2", patron_type=student)
    other_type = PatronFactory(home_site=ams, username=None, barcode="S-3")
    client.force_login(librarian)
    preview = client.post(
        URL,
        {
            "step": "rule",
            "rule": "barcode",
            "site": ams.pk,
            "patron_type": student.pk,
            "only_without_username": "on",
        },
    )
    assert apply(client, preview).status_code == 302
    assert usernames(nameless, named, other_type) == ["S-1", "named", None]


def test_a_rule_can_collide_with_an_account_outside_the_batch(client, librarian, ams, jes):
    PatronFactory(home_site=jes, username="kim")
    kim = PatronFactory(home_site=ams, username="kim2", email="kim@example.org")
    client.force_login(librarian)
    preview = client.post(URL, {"step": "rule", "rule": "email", "site": ams.pk})
    assert preview.status_code == 422
    assert escaped(service.TAKEN.format(new="kim")) in page(preview)
    assert usernames(kim) == ["kim2"]


def test_a_rule_is_for_sites_in_scope(client, librarian, jes):
    client.force_login(librarian)
    response = client.post(URL, {"step": "rule", "rule": "email", "site": jes.pk})
    assert response.status_code == 422
    assert "Select a valid choice" in page(response)


# --- apply: crafted, stale, refused ------------------------------------------------------------


def test_a_tampered_plan_is_refused(client, librarian, alice, ams):
    colleague = OperatorFactory(home_site=ams, level=Level.LIBRARIAN, username="colleague")
    client.force_login(librarian)
    preview = upload(client, "alice,a1\n")
    plan = re.search(r'name="plan" value="([^"]+)"', page(preview)).group(1)
    payload, signature = plan.rsplit(":", 1)
    forged = forms.signing.dumps(
        {"actor": librarian.pk, "changes": [[colleague.pk, colleague.version, "colleague", "x"]]},
        salt="another salt",
    )
    for crafted in (payload + ":" + signature[::-1], forged, "garbage", ""):
        response = client.post(URL, {"step": "apply", "plan": crafted})
        assert response.status_code == 422
        assert escaped(forms.PLAN_REFUSED) in page(response)
    assert usernames(alice, colleague) == ["alice", "colleague"]
    assert not OperatorAction.objects.filter(action=Kind.USERNAMES).exists()


def test_another_operators_plan_is_refused(client, librarian, library_admin, alice):
    client.force_login(library_admin)
    preview = upload(client, "alice,a1\n")
    client.force_login(librarian)
    response = apply(client, preview)
    assert response.status_code == 422
    assert usernames(alice) == ["alice"]


def test_a_plan_is_refused_when_a_patron_changed_since_the_preview(client, librarian, alice, bob):
    client.force_login(librarian)
    preview = upload(client, "alice,a1\nbob,b1\n")
    Patron.objects.filter(pk=bob.pk).update(version=bob.version + 1, first_name="Changed")
    response = apply(client, preview)
    assert response.status_code == 422
    assert escaped(service.STALE.format(count=1)) in page(response)
    assert usernames(alice, bob) == ["alice", "bob"]


def test_a_name_taken_after_the_preview_refuses_the_batch(client, librarian, alice, bob, ams):
    client.force_login(librarian)
    preview = upload(client, "alice,a1\nbob,b1\n")
    PatronFactory(home_site=ams, username="B1")
    response = apply(client, preview)
    assert response.status_code == 422
    assert escaped(service.TAKEN.format(new="b1")) in page(response)
    assert usernames(alice, bob) == ["alice", "bob"]


def test_the_policy_is_asked_again_when_applying(client, librarian, alice):
    from tests.factories import group_at

    client.force_login(librarian)
    preview = upload(client, "alice,a1\n")
    Patron.objects.filter(pk=alice.pk).update(security_group=group_at(Level.LIBRARIAN))
    assert apply(client, preview).status_code == 422
    assert usernames(alice) == ["alice"]


def test_the_service_refuses_a_plan_with_problems(librarian, alice):
    plan = service.usernames_plan(actor=librarian, pairs=[service.UsernamePair(1, "alice", "")])
    assert not plan.can_apply
    with pytest.raises(service.ValidationError, match=service.HAS_PROBLEMS):
        service.usernames_apply(actor=librarian, plan=plan)


# --- who may, and what garbage gets ---------------------------------------------------------


@pytest.mark.parametrize("role", ["aide", "staff", "patron"])
def test_operators_without_the_access_tab_are_refused(client, roles, alice, role):
    client.force_login(roles[role])
    assert client.get(URL).status_code == 403
    file = SimpleUploadedFile("u.csv", b"alice,a1\n")
    assert client.post(URL, {"step": "upload", "file": file}).status_code == 403
    assert usernames(alice) == ["alice"]


def test_the_page_opens_for_holders_of_the_access_tab(client, librarian, ams, jes):
    client.force_login(librarian)
    response = client.get(URL)
    assert response.status_code == 200
    assert f"{ams.code} - {ams.name}" in page(response)
    assert f"{jes.code} - {jes.name}" not in page(response)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 40, forms.NOT_TEXT),
        (b"alice,\x00a1\n", forms.NOT_TEXT),
        (b"", forms.EMPTY_FILE),
        (b"old,new\n\n", forms.NO_ROWS),
        (b"alice,a1,extra\n", forms.WRONG_COLUMNS.format(line=1, count=3)),
        (b"a" * (10 * 1024 * 1024) + b",b\n", forms.TOO_LARGE),
        (b'"' + b"a" * 200_000 + b'",b\n', None),  # longer than the csv module's field limit
    ],
)
def test_garbage_uploads_get_a_clear_message(client, librarian, alice, content, message):
    client.force_login(librarian)
    response = upload(client, content)
    assert response.status_code == 422
    if message is not None:
        assert escaped(message) in page(response)
    assert 'name="plan"' not in page(response)
    assert usernames(alice) == ["alice"]


def test_no_file_at_all(client, librarian):
    client.force_login(librarian)
    response = client.post(URL, {"step": "upload"})
    assert response.status_code == 422
    assert escaped(forms.NO_FILE) in page(response)


def test_too_many_rows(client, librarian):
    client.force_login(librarian)
    too_many = service.USERNAMES_MAX_ROWS + 1
    response = upload(client, "".join(f"u{n},v{n}\n" for n in range(too_many)))
    assert response.status_code == 422
    limit = service.USERNAMES_MAX_ROWS
    assert escaped(service.TOO_MANY.format(limit=limit, count=too_many)) in page(response)


def test_the_preview_asks_a_fixed_number_of_queries(librarian, ams, django_assert_max_num_queries):
    patrons = PatronFactory.create_batch(30, home_site=ams)
    pairs = [service.UsernamePair(n, p.username, f"new{n}") for n, p in enumerate(patrons)]
    librarian.has_perm("patrons.edit_access")  # the policy's facts, read once per operator
    with django_assert_max_num_queries(3):
        plan = service.usernames_plan(actor=librarian, pairs=pairs)
    assert len(plan.changes) == 30
