"""Deleting a patron: a confirmation first; refused with the reason for protected patrons
and the last District Administrator; only within the policy."""

import io
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from patrons import services
from patrons.models import Patron
from patrons.views.delete import DELETED
from security.models import Level
from tests.factories import OperatorFactory, PatronFactory

pytestmark = pytest.mark.django_db


def url(patron):
    return reverse("patrons:delete", kwargs={"pk": patron.pk})


def test_confirm_then_delete(client, librarian, patron):
    client.force_login(librarian)
    page = client.get(url(patron))
    assert page.status_code == 200
    assert "Delete the patron" in page.content.decode()
    assert Patron.objects.filter(pk=patron.pk).exists()
    response = client.post(url(patron))
    assert response.status_code == 302 and response.url == reverse("patrons:list")
    assert not Patron.objects.filter(pk=patron.pk).exists()
    message = DELETED.format(name=patron.display_name, barcode=patron.barcode)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]


def test_a_protected_patron_is_not_deleted_and_the_page_says_why(client, librarian, ams):
    protected = PatronFactory(home_site=ams, is_protected=True)
    client.force_login(librarian)
    page = client.get(url(protected)).content.decode()
    assert services.PROTECTED_PATRON in page and "Delete the patron" not in page
    response = client.post(url(protected))
    assert response.status_code == 422
    assert services.PROTECTED_PATRON in response.content.decode()
    assert Patron.objects.filter(pk=protected.pk).exists()


def test_the_last_district_administrator_is_not_deleted(client, district_admin):
    client.force_login(district_admin)
    assert services.LAST_DISTRICT_ADMIN in client.get(url(district_admin)).content.decode()
    response = client.post(url(district_admin))
    assert response.status_code == 422
    assert services.LAST_DISTRICT_ADMIN in response.content.decode()
    assert Patron.objects.filter(pk=district_admin.pk).exists()


def test_another_district_administrator_may_be_deleted(client, district_admin, district):
    other = OperatorFactory(level=Level.DISTRICT_ADMINISTRATOR, home_site=district)
    client.force_login(district_admin)
    assert client.post(url(other)).status_code == 302
    assert not Patron.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize("role", ["staff", "aide"])
def test_operators_without_the_permission_get_403(client, roles, patron, role):
    client.force_login(roles[role])
    assert client.get(url(patron)).status_code == 403
    assert client.post(url(patron)).status_code == 403
    assert Patron.objects.filter(pk=patron.pk).exists()


def test_at_or_above_ones_level_is_403_and_out_of_scope_404(
    client, librarian, library_admin, operator_at_other_site, patron
):
    client.force_login(librarian)
    assert client.post(url(library_admin)).status_code == 403
    client.force_login(operator_at_other_site)
    assert client.post(url(patron)).status_code == 404
    assert Patron.objects.filter(pk__in=[library_admin.pk, patron.pk]).count() == 2


def test_the_photo_leaves_with_the_patron(
    client, librarian, patron, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    patron.photo.save("face.png", _png(), save=True)
    path = patron.photo.path
    client.force_login(librarian)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(patron))
    assert path.startswith(str(tmp_path))
    assert not Path(path).exists()


def _png():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return ContentFile(buffer.getvalue())
