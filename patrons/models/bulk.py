"""Imports: the feeds that manage patrons, a staged import with its rows, and the values an
import last wrote (so that a field staff changed by hand is not overwritten)."""

import datetime
import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

SILENT_FOR = datetime.timedelta(minutes=10)


class ImportFeed(models.Model):
    """Where imported patrons come from ("Student roll", "Staff HR"): the list filters on it
    and "deactivate the patrons missing from the file" reaches only its own patrons."""

    name = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ImportRun(models.Model):
    """One file on its way in: staged (read and checked, nothing written to patrons), then
    applied or discarded. Only the operator who staged it may apply it."""

    class Status(models.TextChoices):
        STAGING = "staging", "Reading the file"
        STAGED = "staged", "Ready to apply"
        REFUSED = "refused", "File refused"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Not applied"
        DISCARDED = "discarded", "Discarded"

    class MatchOn(models.TextChoices):
        BARCODE = "barcode", "Barcode"
        ADMIN_SYSTEM_ID = "admin_system_id", "Admin system id"
        USERNAME = "username", "Username"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    operator = models.ForeignKey(
        "patrons.Patron", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    feed = models.ForeignKey(ImportFeed, on_delete=models.PROTECT, related_name="runs")
    file_name = models.CharField(max_length=200)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    match_on = models.CharField(max_length=16, choices=MatchOn.choices)
    columns = ArrayField(models.CharField(max_length=40), default=list)
    protected = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    valid_only = models.BooleanField(default=False)
    deactivate_missing = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STAGING)
    phase = models.CharField(max_length=80, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    file_errors = models.JSONField(default=list, blank=True)
    deactivations = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    staged_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["operator", "-created_at"], name="importrun_operator")]

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.STAGING, self.Status.APPLYING)

    @property
    def is_interrupted(self) -> bool:
        """Running, but silent for so long that its server must have stopped: the
        transaction it was in rolled back, and the run can only be discarded."""
        last = self.heartbeat_at or self.created_at
        return self.is_running and timezone.now() - last > SILENT_FOR


class ImportRow(models.Model):
    """A row of the file, typed and checked: what applying it would do. The staging table
    of the set-based import (filled by COPY, checked and applied by SQL)."""

    class Action(models.TextChoices):
        CREATE = "create", "To create"
        UPDATE = "update", "To update"
        UNCHANGED = "unchanged", "Unchanged"
        INVALID = "invalid", "Invalid"

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices, blank=True)
    key = models.CharField(max_length=150, blank=True)
    # The matched patron, and its version when the preview was made (newer: stale preview).
    patron_id = models.IntegerField(null=True)
    patron_version = models.IntegerField(null=True)
    errors = ArrayField(models.TextField(), default=list, blank=True)
    diff = models.JSONField(default=dict, blank=True)  # {field: [old, new]} as cells
    kept = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    raw = models.JSONField(default=list, blank=True)  # the cells, for the invalid-rows report
    # False when the cells do not match the header: no value can be trusted, no rule asked.
    readable = models.BooleanField(default=True)

    # The row's values, typed (None where the file has no such column or the cell is empty).
    barcode = models.CharField(max_length=15, null=True)
    admin_system_id = models.CharField(max_length=40, null=True)
    username = models.CharField(max_length=150, null=True)
    title = models.CharField(max_length=20, null=True)
    first_name = models.CharField(max_length=80, null=True)
    middle_name = models.CharField(max_length=80, null=True)
    last_name = models.CharField(max_length=80, null=True)
    preferred_first_name = models.CharField(max_length=80, null=True)
    preferred_last_name = models.CharField(max_length=80, null=True)
    birth_date = models.DateField(null=True)
    gender = models.CharField(max_length=30, null=True)
    patron_type_id = models.IntegerField(null=True)
    cohort = models.CharField(max_length=40, null=True)
    form_class = models.CharField(max_length=40, null=True)
    home_site_id = models.IntegerField(null=True)
    status = models.CharField(max_length=12, null=True)
    expiry_date = models.DateField(null=True)
    purge_date = models.DateField(null=True)
    email = models.CharField(max_length=254, null=True)
    communication_channel = models.CharField(max_length=5, null=True)
    language = models.CharField(max_length=10, null=True)
    security_group_id = models.IntegerField(null=True)
    is_staff_member = models.BooleanField(null=True)

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["run", "action", "line"], name="importrow_run_action")]

    def __str__(self):
        return f"line {self.line} ({self.action or 'not checked'})"


class ImportedValues(models.Model):
    """What the last import wrote to each field of a patron it manages, as text. A field
    whose value differs now was changed by hand, and the next import leaves it alone."""

    patron = models.OneToOneField(
        "patrons.Patron", primary_key=True, on_delete=models.CASCADE, related_name="imported"
    )
    feed = models.ForeignKey(ImportFeed, on_delete=models.CASCADE, related_name="+")
    values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.feed} values of patron {self.patron_id}"
