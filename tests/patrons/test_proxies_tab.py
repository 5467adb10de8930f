"""The Proxies tab (Alma's "Proxy For"): who may act for whom, with an optional end; both
patrons within the operator's scope; never a generic account; both records and the
patron's own page show the link."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from patrons import services
from patrons.models import Patron, ProxyLink
from patrons.views.proxies import NOT_FOUND
from security.models import Level, OperatorAction
from tests.factories import OperatorFactory, PatronFactory
from tests.tab_posts import tab_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def parent(ams):
    return PatronFactory(first_name="Marie", last_name="Curie", barcode="P9000001", home_site=ams)


@pytest.fixture
def child(ams):
    return PatronFactory(first_name="Irene", last_name="Curie", barcode="P9000002", home_site=ams)


def add(client, proxy, barcode, **extra):
    return client.post(tab_url(proxy, "proxies"), {"barcode": barcode, **extra})


def test_a_parent_may_act_for_a_child_and_both_records_show_it(client, librarian, parent, child):
    client.force_login(librarian)
    response = add(client, parent, child.barcode, expires_on="")
    assert response.status_code == 200
    link = ProxyLink.objects.get()
    assert (link.proxy, link.patron, link.created_by) == (parent, child, librarian)
    assert [other for _, other in response.context["acts_for"]] == [child]
    on_child = client.get(tab_url(child, "proxies"))
    assert [other for _, other in on_child.context["proxies"]] == [parent]
    logged = OperatorAction.objects.filter(object_type="patrons.proxylink")
    assert set(logged.values_list("patron", flat=True)) == {parent.pk, child.pk}


def test_the_patron_sees_whom_they_may_act_for_on_their_own_page(client, librarian, parent, child):
    services.proxy_link_add(actor=librarian, proxy=parent, patron=child)
    expired = PatronFactory(first_name="Pierre", home_site=parent.home_site)
    ProxyLink.objects.create(
        proxy=parent, patron=expired, expires_on=timezone.localdate() - datetime.timedelta(days=1)
    )
    client.force_login(parent)
    page = client.get(reverse("me")).content.decode()
    assert "You may act for" in page and child.display_name in page
    assert expired.display_name not in page


def test_a_patron_out_of_scope_is_not_found(client, librarian, parent, jes):
    outside = PatronFactory(barcode="P9000099", home_site=jes)
    client.force_login(librarian)
    response = add(client, parent, outside.barcode)
    assert response.status_code == 422
    assert response.context["form"].errors["barcode"] == [NOT_FOUND]
    assert not ProxyLink.objects.exists()


def test_the_service_refuses_a_patron_out_of_scope(librarian, parent, jes):
    from django.core.exceptions import PermissionDenied

    outside = PatronFactory(home_site=jes)
    with pytest.raises(PermissionDenied):
        services.proxy_link_add(actor=librarian, proxy=parent, patron=outside)


def test_links_with_patrons_out_of_scope_are_counted_not_shown(client, librarian, parent, jes):
    outside = PatronFactory(first_name="Hidden", last_name="Person", home_site=jes)
    ProxyLink.objects.create(proxy=parent, patron=outside)
    client.force_login(librarian)
    response = client.get(tab_url(parent, "proxies"))
    assert response.context["hidden_count"] == 1
    assert "Hidden" not in response.content.decode()
    link = ProxyLink.objects.get()
    assert client.post(tab_url(parent, "proxies"), {"remove": link.pk}).status_code == 403
    assert ProxyLink.objects.exists()


@pytest.mark.parametrize("which", ["proxy", "patron"])
def test_a_generic_account_neither_acts_for_anyone_nor_has_proxies(
    client, librarian, parent, child, ams, which
):
    generic = parent if which == "proxy" else child
    Patron.objects.filter(pk=generic.pk).update(is_generic=True)
    generic.site_access.add(ams)
    client.force_login(librarian)
    response = add(client, parent, child.barcode)
    assert response.status_code == 422
    assert services.PROXY_GENERIC in response.context["form"].errors["barcode"]
    assert not ProxyLink.objects.exists()


def test_oneself_twice_and_past_dates_are_explained(client, librarian, parent, child):
    client.force_login(librarian)
    oneself = add(client, parent, parent.barcode)
    assert services.PROXY_ONESELF in oneself.context["form"].errors["barcode"]
    past = add(client, parent, child.barcode, expires_on="2020-01-01")
    assert past.context["form"].errors["expires_on"] == [services.PROXY_IN_THE_PAST]
    assert add(client, parent, child.barcode).status_code == 200
    twice = add(client, parent, child.barcode)
    assert twice.status_code == 422
    assert ProxyLink.objects.count() == 1


def test_an_expiry_today_is_active_yesterday_is_not(librarian, parent, child):
    today = timezone.localdate()
    link = ProxyLink.objects.create(proxy=parent, patron=child, expires_on=today)
    assert link.is_active and ProxyLink.objects.active().count() == 1
    ProxyLink.objects.update(expires_on=today - datetime.timedelta(days=1))
    assert not ProxyLink.objects.active().exists()


def test_removing_a_link_and_crafted_ids(client, librarian, parent, child, ams):
    link = services.proxy_link_add(actor=librarian, proxy=parent, patron=child)
    stranger = PatronFactory(home_site=ams)
    client.force_login(librarian)
    assert client.post(tab_url(stranger, "proxies"), {"remove": link.pk}).status_code == 404
    assert client.post(tab_url(stranger, "proxies"), {"remove": "x"}).status_code == 404
    assert ProxyLink.objects.exists()
    assert client.post(tab_url(child, "proxies"), {"remove": link.pk}).status_code == 200
    assert not ProxyLink.objects.exists()


def test_read_only_without_edit_personal_and_at_the_level_boundary(
    client, aide, librarian, parent, child, ams
):
    client.force_login(aide)
    assert client.get(tab_url(parent, "proxies")).status_code == 200
    assert add(client, parent, child.barcode).status_code == 403
    colleague = OperatorFactory(level=Level.LIBRARIAN, home_site=ams, barcode="P9000003")
    client.force_login(librarian)
    assert add(client, colleague, child.barcode).status_code == 403
    assert add(client, parent, colleague.barcode).status_code == 403
    assert not ProxyLink.objects.exists()


def test_the_tab_runs_the_same_queries_with_1_or_20_links(client, librarian, parent, ams):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(tab_url(parent, "proxies")).status_code == 200
        return len(captured)

    client.force_login(librarian)
    ProxyLink.objects.create(proxy=parent, patron=PatronFactory(home_site=ams))
    one = queries()
    for _ in range(10):
        ProxyLink.objects.create(proxy=parent, patron=PatronFactory(home_site=ams))
        ProxyLink.objects.create(proxy=PatronFactory(home_site=ams), patron=parent)
    assert queries() == one
