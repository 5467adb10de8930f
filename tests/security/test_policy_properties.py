"""Property: for any operator and any action, scope() returns exactly the objects for
which can() is true. The SQL and the Python answer must never disagree. The random worlds
hold grants of both kinds (adding a site, limiting a group permission to a site) and
delegations on random groups (giving the group, changing it)."""

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrons.models import Block, BlockType, Note, NoteType, Patron
from security import policy
from security.models import Grant, GroupDelegation, Level, SecurityGroup
from sites.models import Site
from tests.factories import OperatorFactory, PatronFactory, SecurityGroupFactory, group_at

pytestmark = pytest.mark.django_db

PATRON_ACTIONS = [
    "patrons.view_patron",
    "patrons.edit_personal",
    "patrons.edit_access",
    "patrons.delete_patron",
]
GROUP_ACTIONS = [
    "security.view_securitygroup",
    "security.change_securitygroup",
    "security.delete_securitygroup",
    policy.ASSIGN_GROUP,
    policy.INHERIT_FROM_GROUP,
]
SITE_ACTIONS = ["sites.view_site", "sites.change_site", policy.GRANT_SITE_ACCESS]
GRANTABLE = PATRON_ACTIONS + [
    "security.view_securitygroup",
    "security.change_securitygroup",
    "sites.change_site",
]
SITE_CODES = ["DIST", "AMS", "AMSB", "JES", "OTHER"]

levels = st.sampled_from(list(Level))
site_indexes = st.integers(min_value=0, max_value=len(SITE_CODES) - 1)
operators = st.fixed_dictionaries(
    {
        "level": levels,
        "home": site_indexes,
        "access": st.sets(site_indexes, max_size=3),
        "grants": st.lists(
            st.tuples(st.sampled_from(GRANTABLE), site_indexes, st.sampled_from(Grant.Kind)),
            max_size=3,
        ),
        # (index among every group, modulo their number; delegated permission)
        "delegations": st.lists(
            st.tuples(st.integers(min_value=0, max_value=9), st.sampled_from(policy.DELEGABLE)),
            max_size=3,
        ),
        "active": st.booleans(),
    }
)
patrons = st.lists(st.tuples(levels, site_indexes, site_indexes), min_size=1, max_size=8)
owners = st.one_of(st.none(), site_indexes)
groups = st.lists(st.tuples(levels, st.booleans(), owners), max_size=4)


def _sites():
    district = Site.objects.create(code="DIST", name="District", kind=Site.Kind.DISTRICT)
    ams = Site.objects.create(code="AMS", name="Adams", parent=district)
    branch = Site.objects.create(code="AMSB", name="Adams Annex", parent=ams)
    jes = Site.objects.create(code="JES", name="Jefferson", parent=district)
    other = Site.objects.create(code="OTHER", name="Another district")
    return [district, ams, branch, jes, other]


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _operator(spec, sites):
    operator = OperatorFactory(
        level=spec["level"],
        home_site=sites[spec["home"]],
        site_access=[sites[i] for i in spec["access"]],
        status=Patron.Status.ACTIVE if spec["active"] else Patron.Status.SUSPENDED,
    )
    for perm, site_index, kind in spec["grants"]:
        Grant.objects.get_or_create(
            operator=operator,
            permission=_permission(perm),
            site=sites[site_index],
            defaults={"kind": kind},
        )
    groups = list(SecurityGroup.objects.order_by("pk"))
    for group_index, perm in spec["delegations"]:
        GroupDelegation.objects.get_or_create(
            user=operator,
            permission=_permission(perm),
            content_object=groups[group_index % len(groups)],
        )
    return Patron.objects.select_related("security_group").get(pk=operator.pk)


def _owned_records(patron, owner_site):
    """A note and a block of the patron, owned by `owner_site`."""
    note_type, block_type = NoteType.objects.first(), BlockType.objects.first()
    Note.objects.create(patron=patron, note_type=note_type, text="n", owner_site=owner_site)
    Block.objects.create(patron=patron, block_type=block_type, owner_site=owner_site)


def _agree(operator, action, model):
    everything = model.objects.all()
    if model is Patron:
        everything = everything.select_related("security_group")
    elif model in (Note, Block):
        everything = everything.select_related("patron__security_group")
    allowed = {obj.pk for obj in everything if policy.can(operator, action, obj)}
    scoped = set(policy.scope(operator, action, model).values_list("pk", flat=True))
    assert scoped == allowed, (action, operator.security_group.level)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operator_spec=operators, patron_specs=patrons, group_specs=groups)
def test_scope_agrees_with_can(default_groups, operator_spec, patron_specs, group_specs):
    with transaction.atomic():
        sites = _sites()
        for level, site_index, owner_index in patron_specs:
            patron = PatronFactory(security_group=group_at(level), home_site=sites[site_index])
            _owned_records(patron, sites[owner_index])
        for level, protected, owner in group_specs:
            owner_site = None if owner is None else sites[owner]
            SecurityGroupFactory(level=level, is_protected=protected, owner_site=owner_site)
        operator = _operator(operator_spec, sites)
        for action in PATRON_ACTIONS:
            _agree(operator, action, Patron)
        for action in GROUP_ACTIONS:
            _agree(operator, action, SecurityGroup)
        for action in SITE_ACTIONS:
            _agree(operator, action, Site)
        for action in ("patrons.view_patron", "patrons.edit_notes"):
            _agree(operator, action, Note)
        for action in ("patrons.view_patron", "patrons.edit_blocks"):
            _agree(operator, action, Block)
        transaction.set_rollback(True)
