"""Purging patrons whose purge date has passed: deleting them, or anonymising them while
keeping what statistics need. For District Administrators only (a command for cron, and
a page).

A candidate's purge date is before today; their balance is exactly zero either way (what
the apps registered in patrons.deletion, in SQL); they are not protected, not the acting
operator and not the last active District Administrator. The candidates are listed in SQL,
then purged in batches, each in one transaction with its rows locked and every condition
asked again (`refusals(patron)` of each too), so a fee added meanwhile stops that patron.

Anonymising keeps the row with its home site, patron type, cohort, form class and birth
year (the birth date becomes 1 January of its year), its statistics, program measures and
fees; everything else that says who they were goes: names, barcode, username, admin
system id, emails, phones, addresses, guardians, notes, identifiers, blocks, attachments
and photo (their files once committed), proxy links, site access, grants, imported
values. The group becomes the Patron group, the status inactive, the password unusable.
The patron's django-pghistory events (their old values) are deleted, in every event table
of the patrons app that belongs to them.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from patrons import deletion
from patrons.models import ImportedValues, Patron
from patrons.services.patron import (
    _acting,
    _delete_file_on_commit,
    _ensure_not_last_district_admin,
    _locked_many,
    patron_delete,
)
from security import log, policy, preferences
from security.models import Level, SecurityGroup
from security.services import grants_review_on_group_change
from sites.models import Site

__all__ = [
    "DISTRICT_ADMINS_ONLY",
    "PURGED_NAME",
    "PurgeMode",
    "PurgeResult",
    "purge_candidates",
    "purge_patrons",
    "require_purger",
]

PURGE = "patrons.delete_patron"
BATCH_SIZE = 500
PURGED_NAME = "Purged patron"
DISTRICT_ADMINS_ONLY = "Only District Administrators purge patrons."
UNKNOWN_MODE = "Choose to delete or to anonymise."

PROTECTED = "protected"
ACTING_OPERATOR = "the acting operator"
LAST_DISTRICT_ADMIN = "the last District Administrator"
NO_LONGER_A_CANDIDATE = "no longer a candidate"

# The rows that say who a patron was, by the patron's relation names (statistics,
# program measures and fees are kept).
PERSONAL_RELATIONS = (
    "emails",
    "addresses",
    "phones",
    "guardians",
    "notes",
    "identifiers",
    "blocks",
    "attachments",
    "proxy_links",
    "proxy_for_links",
)
# The fields of a tracked row that name the patron it belongs to (not its authors).
SUBJECT_FIELDS = ("patron", "proxy")


class PurgeMode(models.TextChoices):
    ANONYMISE = "anonymise", "Anonymise: keep statistics, remove personal data"
    DELETE = "delete", "Delete the records"


@dataclass
class PurgeResult:
    mode: str
    candidates: int = 0  # whose purge date has passed (within the site)
    purged: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> how many
    would_purge: list = field(default_factory=list)  # a dry run's patrons
    dry_run: bool = False

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        count = len(self.would_purge) if self.dry_run else self.purged
        line = f"{verb} {count} of {self.candidates} candidates"
        if self.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
            line += f" ({self.skipped_count} skipped: {reasons})"
        return line


def require_purger(actor) -> None:
    """District Administrators only: a purge crosses every site and cannot be undone."""
    policy.require(actor, policy.PURGE_PATRONS, message=DISTRICT_ADMINS_ONLY)
    policy.require(actor, PURGE, message=DISTRICT_ADMINS_ONLY)


def purge_candidates(*, actor, site: Site | None = None) -> QuerySet:
    """The patrons a purge would purge now (at `site` and below, when given), in SQL."""
    require_purger(actor)
    return deletion.deletable(_purgeable(_past_due(actor, site), actor))


def _past_due(actor, site: Site | None) -> QuerySet:
    patrons = policy.scope(actor, PURGE, Patron).filter(purge_date__lt=timezone.localdate())
    if site is not None:
        patrons = patrons.filter(home_site_id__in=policy.descendants(policy.site_tree(), [site.pk]))
    return patrons


def _purgeable(patrons: QuerySet, actor) -> QuerySet:
    return patrons.filter(is_protected=False).exclude(pk=actor.pk).exclude(_last_district_admin())


def _last_district_admin() -> Q:
    """An active District Administrator with no other who can sign in."""
    others = Patron.objects.active_district_administrators().able_to_sign_in()
    return Q(is_active=True, security_group__level=Level.DISTRICT_ADMINISTRATOR) & ~Exists(
        others.exclude(pk=OuterRef("pk"))
    )


def purge_patrons(
    *,
    actor,
    mode: str,
    site: Site | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> PurgeResult:
    """Purge the candidates as of now. A dry run lists them and writes nothing."""
    require_purger(actor)
    if mode not in PurgeMode.values:
        raise ValidationError({"mode": UNKNOWN_MODE})
    result = PurgeResult(mode=mode, dry_run=dry_run)
    past_due = _past_due(actor, site)
    candidates = purge_candidates(actor=actor, site=site).order_by("pk")
    result.candidates = past_due.count()
    result.skipped.update(_reasons_not_candidates(actor, past_due, candidates))
    if dry_run:
        result.would_purge = list(candidates.select_related("home_site"))
        return result
    ids = list(candidates.values_list("pk", flat=True))
    for start in range(0, len(ids), batch_size):
        _purge_batch(actor, mode, site, ids[start : start + batch_size], result)
    log.record(log.Kind.PURGED, operator=actor, details={"mode": mode, "count": result.purged})
    return result


def _reasons_not_candidates(actor, past_due: QuerySet, candidates: QuerySet) -> Counter:
    """Why each patron past their purge date is not a candidate (the first reason found)."""
    others = past_due.exclude(pk__in=candidates.values("pk"))
    remaining = set(others.values_list("pk", flat=True))
    reasons = Counter()
    checks = [
        (PROTECTED, lambda qs: qs.exclude(is_protected=True)),
        (ACTING_OPERATOR, lambda qs: qs.exclude(pk=actor.pk)),
        (LAST_DISTRICT_ADMIN, lambda qs: qs.exclude(_last_district_admin())),
        *deletion.filter_reasons(),
    ]
    for reason, keep in checks:
        if not remaining:
            break
        pool = Patron.objects.filter(pk__in=remaining)
        refused = remaining - set(keep(pool).values_list("pk", flat=True))
        reasons[reason] += len(refused)
        remaining -= refused
    reasons[NO_LONGER_A_CANDIDATE] += len(remaining)
    return +reasons


def _purge_batch(actor, mode: str, site, ids: list[int], result: PurgeResult) -> None:
    with transaction.atomic():
        locked = _locked_many(ids)
        still = set(
            purge_candidates(actor=actor, site=site).filter(pk__in=ids).values_list("pk", flat=True)
        )
        for patron in locked:
            if patron.pk not in still:
                result.skipped[NO_LONGER_A_CANDIDATE] += 1
                continue
            try:
                with transaction.atomic():
                    _purge_one(actor, mode, patron)
            except (ValidationError, PermissionDenied) as error:
                result.skipped[" ".join(getattr(error, "messages", [str(error)]))] += 1
            else:
                result.purged += 1


def _purge_one(actor, mode: str, patron: Patron) -> None:
    if mode == PurgeMode.DELETE:
        patron_delete(actor=actor, patron=patron)
    else:
        patron_anonymise(actor=actor, patron=patron)


def patron_anonymise(*, actor, patron: Patron) -> None:
    """Call with the patron's row locked (and the District Administrators')."""
    require_purger(actor)
    refusals = deletion.refusals(patron)
    if refusals:
        raise ValidationError([refusal.message for refusal in refusals])
    _ensure_not_last_district_admin(patron)
    files = [attachment.file for attachment in patron.attachments.all()]
    if patron.photo:
        files.append(patron.photo)
    was_operator = patron.security_group.level < Level.PATRON
    with _acting(actor):
        _delete_personal_rows(patron)
        _blank(actor, patron)
        patron.full_clean()
        patron.save()
        patron.site_access.clear()
        if was_operator:
            grants_review_on_group_change(actor=actor, operator=patron)
    _delete_history(patron)
    policy.forget(patron)
    for file in files:
        _delete_file_on_commit(file)


def _delete_personal_rows(patron: Patron) -> None:
    for relation in PERSONAL_RELATIONS:
        getattr(patron, relation).all().delete()
    ImportedValues.objects.filter(patron=patron).delete()


def _blank(actor, patron: Patron) -> None:
    for name in ("title", "first_name", "middle_name", "preferred_first_name",
                 "preferred_last_name", "gender", "admin_system_id", "email",
                 "additional_email", "pin"):  # fmt: skip
        setattr(patron, name, "")
    patron.last_name = PURGED_NAME
    patron.birth_date = date(patron.birth_date.year, 1, 1) if patron.birth_date else None
    patron.barcode = None
    patron.username = None
    patron.expiry_date = None
    patron.purge_date = None
    patron.status = Patron.Status.INACTIVE
    patron.photo = ""
    patron.is_generic = patron.is_staff_member = patron.must_change_password = False
    for name in ("communication_channel", "language", "notify_overdue", "notify_hold_ready",
                 "notify_fines", "keep_history", "source"):  # fmt: skip
        setattr(patron, name, Patron._meta.get_field(name).get_default())
    patron.import_feed = None
    patron.security_group = _patron_group()
    patron.set_unusable_password()
    patron.updated_by = actor
    patron.version += 1


def _patron_group() -> SecurityGroup:
    chosen = preferences.default_group()
    if chosen is not None and chosen.level == Level.PATRON and chosen.owner_site_id is None:
        return chosen
    return (
        SecurityGroup.objects.filter(level=Level.PATRON, owner_site__isnull=True)
        .order_by("pk")
        .first()
    )


def _delete_history(patron: Patron) -> None:
    """Every django-pghistory event of the patron's record and of its rows in the patrons
    app: their old values are the personal data the purge removes."""
    for events in _history_of(patron):
        events.delete()


def _history_of(patron: Patron) -> list[QuerySet]:
    found = [Patron.pgh_event_model.objects.filter(pgh_obj_id=patron.pk)]
    for model in apps.get_app_config("patrons").get_models():
        event_model = getattr(model, "pgh_event_model", None)
        if event_model is None or model is Patron or model is event_model:
            continue
        names = {f.name for f in event_model._meta.concrete_fields}
        condition = Q()
        for name in SUBJECT_FIELDS:
            if name in names:
                condition |= Q(**{f"{name}_id": patron.pk})
        if condition:
            found.append(event_model.objects.filter(condition))
    return found
