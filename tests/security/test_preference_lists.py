"""The lists records choose from (/staff/preferences/lists/<list>/): add, rename, delete
what no record uses, with every refusal explained and nothing half-saved."""

import pytest
from django.urls import reverse

from patrons.models import BlockType, Note, NoteType, PatronType, Program
from security.models import OperatorAction
from security.services import LIST_ENTRIES_IN_USE
from tests.factories import PatronFactory

pytestmark = pytest.mark.django_db


def list_url(slug: str) -> str:
    return reverse("preferences:list", kwargs={"slug": slug})


def formset_data(client, slug: str, rows=None, new=None) -> dict:
    """The list's formset as loaded; `rows` changes existing rows by code ({"code": {...}}),
    `new` fills the empty row."""
    formset = client.get(list_url(slug)).context["formset"]
    data = {
        "form-TOTAL_FORMS": str(len(formset.forms)),
        "form-INITIAL_FORMS": str(formset.initial_form_count()),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    for index, form in enumerate(formset.forms):
        prefix = f"form-{index}-"
        if form.instance.pk:
            values = {
                "id": form.instance.pk,
                "code": form.instance.code,
                "name": form.instance.name,
            }
            values.update((rows or {}).get(form.instance.code, {}))
        else:
            values = new or {}
        data.update({prefix + key: value for key, value in values.items() if value is not False})
    return data


def test_every_list_has_a_page(client, librarian):
    client.force_login(librarian)
    page = client.get(reverse("preferences:edit")).content.decode()
    for slug in [
        "patron-types",
        "note-types",
        "block-types",
        "identifier-types",
        "statistical-categories",
        "programs",
    ]:
        assert list_url(slug) in page
        assert client.get(list_url(slug)).status_code == 200


def test_an_unknown_list_is_not_found(client, librarian):
    client.force_login(librarian)
    assert client.get(list_url("no-such-list")).status_code == 404


def test_add_rename_and_delete_entries_in_one_save(client, librarian):
    client.force_login(librarian)
    data = formset_data(
        client,
        "programs",
        rows={
            "summer_reading": {"name": "Summer reading challenge"},
            "homebound": {"DELETE": "on"},
        },
        new={"code": "book_club", "name": "Book club"},
    )
    response = client.post(list_url("programs"), data)
    assert response.status_code == 302
    assert sorted(Program.objects.values_list("code", "name")) == [
        ("book_club", "Book club"),
        ("summer_reading", "Summer reading challenge"),
    ]
    entry = OperatorAction.objects.get(action=OperatorAction.Kind.PREFERENCES_CHANGED)
    old, new = entry.details["changes"]["Programs"]
    assert "Homebound delivery (homebound)" in old and "Book club (book_club)" in new


def test_an_entry_in_use_cannot_be_deleted_and_nothing_else_is_saved(client, librarian, ams):
    in_use = NoteType.objects.get(code="general")
    Note.objects.create(
        patron=PatronFactory(home_site=ams), note_type=in_use, text="Hi", owner_site=ams
    )
    client.force_login(librarian)
    page = client.get(list_url("note-types")).content.decode()
    assert "In use" in page
    data = formset_data(
        client, "note-types", rows={"general": {"DELETE": "on"}}, new={"code": "x", "name": "X"}
    )
    response = client.post(list_url("note-types"), data)
    assert response.status_code == 422
    assert LIST_ENTRIES_IN_USE.format(names="General") in response.content.decode()
    assert NoteType.objects.filter(pk=in_use.pk).exists()
    assert not NoteType.objects.filter(code="x").exists()
    assert not OperatorAction.objects.filter(action=OperatorAction.Kind.PREFERENCES_CHANGED)


def test_a_patron_type_in_use_is_kept(client, librarian, ams):
    student = PatronType.objects.create(code="student", name="Student")
    PatronFactory(home_site=ams, patron_type=student)
    client.force_login(librarian)
    data = formset_data(client, "patron-types", rows={"student": {"DELETE": "on"}})
    assert client.post(list_url("patron-types"), data).status_code == 422
    assert PatronType.objects.filter(pk=student.pk).exists()


@pytest.mark.parametrize(
    ("new", "field"),
    [
        ({"code": "lost_card", "name": "Lost again"}, "code"),  # the code exists
        ({"code": "has space", "name": "Spaced"}, "code"),
        ({"code": "nameless", "name": ""}, "name"),
    ],
)
def test_a_bad_entry_is_explained_next_to_its_field(client, librarian, new, field):
    client.force_login(librarian)
    before = list(BlockType.objects.values_list("code", "name"))
    response = client.post(list_url("block-types"), formset_data(client, "block-types", new=new))
    assert response.status_code == 422
    assert field in response.context["formset"].forms[-1].errors
    assert list(BlockType.objects.values_list("code", "name")) == before


def test_two_rows_with_the_same_code_are_refused(client, librarian):
    client.force_login(librarian)
    data = formset_data(client, "programs", rows={"homebound": {"code": "summer_reading"}})
    response = client.post(list_url("programs"), data)
    assert response.status_code == 422
    assert Program.objects.filter(code="homebound").exists()


@pytest.mark.parametrize("role", ["staff", "aide", "patron"])
def test_a_crafted_post_without_the_permission_changes_nothing(client, roles, role):
    client.force_login(roles[role])
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "0",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-code": "evil",
        "form-0-name": "Evil",
    }
    assert client.post(list_url("programs"), data).status_code == 403
    assert not Program.objects.filter(code="evil").exists()


def test_the_list_page_needs_the_same_queries_for_few_and_many_entries(
    client, librarian, django_assert_max_num_queries
):
    client.force_login(librarian)
    with django_assert_max_num_queries(14):
        client.get(list_url("programs"))
    Program.objects.bulk_create(Program(code=f"p{n}", name=f"Program {n}") for n in range(40))
    with django_assert_max_num_queries(14):
        client.get(list_url("programs"))
