"""Input for the security group pages. The choices shown are what the policy lets the
operator give; the fields accept any level, group and declared permission, so that a
crafted request reaches the service, whose checks refuse it (403) and change nothing.

Permissions the editor does not hold are shown read-only and posted back as they are
(hidden inputs), so that the post always states the whole matrix and the service sees any
change to them."""

from dataclasses import dataclass

from django import forms
from django.utils.dateparse import parse_datetime

from security import group_selectors, policy
from security.models import Level, SecurityGroup
from security.permission_areas import AREAS, existing_permissions, permission_name
from sites.models import Site

NOT_HELD_NOTE = "You do not hold this permission: it stays as it is."
# The fields a delegate of the group's permissions sees but never changes (posted back as
# they are, so that a crafted change reaches the service, which refuses it).
DESCRIBING_FIELDS = ("name", "level", "description", "parent", "owner_site")


@dataclass(frozen=True)
class MatrixRow:
    """One permission of the matrix: its "has" and "grantable" checkboxes."""

    name: str
    label: str
    has: bool
    has_editable: bool
    has_kept: bool  # read-only but the group's own: posted back unchanged
    inherited_from: SecurityGroup | None
    grantable: bool
    grantable_editable: bool
    grantable_kept: bool
    grantable_inherited_from: SecurityGroup | None
    editor_holds: bool


@dataclass(frozen=True)
class MatrixArea:
    label: str
    rows: list[MatrixRow]


class GroupForm(forms.Form):
    name = SecurityGroup._meta.get_field("name").formfield()
    level = forms.TypedChoiceField(coerce=int, choices=Level.choices)
    description = SecurityGroup._meta.get_field("description").formfield(
        widget=forms.Textarea(attrs={"rows": 2})
    )
    parent = forms.ModelChoiceField(
        queryset=SecurityGroup.objects.all(),
        required=False,
        label="Inherits from",
        empty_label="(no parent group)",
        help_text="The group has every permission of this group too. It must have the same "
        "level or a higher number.",
    )
    owner_site = forms.ModelChoiceField(
        queryset=Site.objects.all(),
        required=False,
        label="Belongs to",
        empty_label="The whole district",
        help_text="Only operators whose site access covers this site change the group, and "
        "only patrons of this site and its branches join it.",
    )
    permissions = forms.MultipleChoiceField(required=False)
    grantable = forms.MultipleChoiceField(required=False)
    loaded_at = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args,
        operator,
        group: SecurityGroup | None = None,
        readonly=False,
        permissions_only=False,
        **kwargs,
    ):
        self.available = existing_permissions()
        self.own, self.marks = group_selectors.group_own_permissions(group)
        if group is not None:
            kwargs.setdefault("initial", self._initial(group))
        super().__init__(*args, **kwargs)
        self.operator, self.group, self.readonly = operator, group, readonly
        self.permissions_only = permissions_only and not readonly
        choices = [(name, name) for name in self.available]
        self.fields["permissions"].choices = self.fields["grantable"].choices = choices
        if self.permissions_only:
            for name in DESCRIBING_FIELDS:
                self.fields[name].widget = forms.HiddenInput()
        else:
            self.fields["level"].widget.choices = self._level_choices()
            self.fields["parent"].widget.choices = self._parent_choices()
            self.fields["owner_site"].widget.choices = self._owner_choices()
        if group is None and not policy.can_own_group(operator, "security.add_securitygroup", None):
            self.fields["owner_site"].initial = operator.home_site_id
        if readonly:
            for field in self.fields.values():
                field.disabled = True

    def _initial(self, group: SecurityGroup) -> dict:
        return {
            "name": group.name,
            "level": group.level,
            "description": group.description,
            "parent": group.parent_id,
            "owner_site": group.owner_site_id,
            "permissions": [permission_name(p) for p in self.own],
            "grantable": [permission_name(p) for p in self.marks],
            "loaded_at": group.updated_at.isoformat(),
        }

    def _level_choices(self) -> list[tuple[int, str]]:
        if self.readonly:
            return [(level, f"{level} · {label}") for level, label in Level.choices]
        probe = "security.change_securitygroup" if self.group else "security.add_securitygroup"
        return [
            (level, f"{level} · {label}")
            for level, label in Level.choices
            if policy.can(self.operator, probe, SecurityGroup(level=level))
        ]

    def _parent_choices(self) -> list[tuple[str | int, str]]:
        if self.readonly:
            groups = [self.group.parent] if self.group and self.group.parent else []
        else:
            groups = group_selectors.parent_choices(operator=self.operator, group=self.group)
        return [("", self.fields["parent"].empty_label)] + [(g.pk, str(g)) for g in groups]

    def _owner_choices(self) -> list[tuple[str | int, str]]:
        """Sites the group may belong to; the district (empty) only for those who may give
        it. The current owner stays shown. A crafted choice reaches the service."""
        field = self.fields["owner_site"]
        if self.readonly:
            owner = self.group.owner_site if self.group else None
            return [(owner.pk, str(owner))] if owner else [("", field.empty_label)]
        action = "security.change_securitygroup" if self.group else "security.add_securitygroup"
        sites = list(policy.group_owner_sites(self.operator, action).order_by("code"))
        current = self.group.owner_site if self.group else None
        if current is not None and current not in sites:
            sites.insert(0, current)
        choices = [(site.pk, str(site)) for site in sites]
        if policy.can_own_group(self.operator, action, None) or (self.group and not current):
            choices.insert(0, ("", field.empty_label))
        return choices

    def clean_loaded_at(self):
        value = self.cleaned_data["loaded_at"]
        return parse_datetime(value) if value else None

    def service_arguments(self) -> dict:
        """Everything the service needs. Permissions outside the matrix (given in the Django
        admin) are kept as they are."""
        data = self.cleaned_data
        arguments = {
            "name": data["name"],
            "level": data["level"],
            "description": data["description"],
            "parent": data["parent"],
            "owner_site": data["owner_site"],
            "permissions": self._chosen(data["permissions"], self.own),
            "grantable": self._chosen(data["grantable"], self.marks),
        }
        if self.group is not None:
            arguments["loaded_at"] = data["loaded_at"]
            if "owner_site" not in self.data:  # a post that does not name it keeps it
                del arguments["owner_site"]
        return arguments

    def _chosen(self, names: list[str], current: list) -> list:
        outside = [p for p in current if permission_name(p) not in self.available]
        return [self.available[name] for name in names] + outside

    def matrix(self) -> list[MatrixArea]:
        """The declared permissions that exist, by area, as the editor sees them."""
        inheritance = group_selectors.group_inheritance(self._parent_shown())
        own = {permission_name(p) for p in self.own}
        marks = {permission_name(p) for p in self.marks}
        if self.is_bound and not self.readonly:
            ticked, ticked_marks = self._posted("permissions"), self._posted("grantable")
        else:
            ticked, ticked_marks = own, marks
        areas = []
        for area in AREAS:
            rows = [
                self._row(name, label, inheritance, own, marks, ticked, ticked_marks)
                for name, label in area.permissions
                if name in self.available
            ]
            if rows:
                areas.append(MatrixArea(area.label, rows))
        return areas

    def _row(self, name, label, inheritance, own, marks, ticked, ticked_marks) -> MatrixRow:
        holds = policy.holds(self.operator, name)
        editable = holds and not self.readonly
        marks_editable = editable and not self.permissions_only
        if not editable:  # a row the editor cannot change is saved as it is
            ticked, ticked_marks = own, marks
        elif not marks_editable:
            ticked_marks = marks
        inherited_from = inheritance.permissions.get(name)
        grantable_inherited_from = inheritance.grantable.get(name)
        has = name in ticked or inherited_from is not None
        # A mark on a permission the group lost is void: shown only as the editor ticked it.
        marked = name in ticked_marks and (has or (editable and self.is_bound))
        return MatrixRow(
            name=name,
            label=label,
            has=has,
            has_editable=editable and (name in ticked or inherited_from is None),
            has_kept=not editable and name in own,
            inherited_from=inherited_from,
            grantable=marked or grantable_inherited_from is not None,
            grantable_editable=marks_editable and (marked or grantable_inherited_from is None),
            grantable_kept=not marks_editable and marked,
            grantable_inherited_from=grantable_inherited_from,
            editor_holds=holds,
        )

    def _posted(self, name: str) -> set[str]:
        values = self.data.getlist(name) if hasattr(self.data, "getlist") else self.data.get(name)
        return set(values or ())

    def _parent_shown(self) -> SecurityGroup | None:
        """The parent whose permissions the matrix shows as inherited: the one chosen when
        the form came back with errors, else the saved one."""
        if self.is_bound and hasattr(self, "cleaned_data") and "parent" in self.cleaned_data:
            return self.cleaned_data["parent"]
        return self.group.parent if self.group is not None else None


class GroupDeleteForm(forms.Form):
    """Where the members of a deleted group go: any group is accepted, so that a crafted
    choice reaches the service, which refuses a group the operator may not assign."""

    move_members_to = forms.ModelChoiceField(
        queryset=SecurityGroup.objects.all(),
        required=False,
        label="Move its members to",
        empty_label="(choose a group)",
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["move_members_to"]
        field.widget.choices = [("", field.empty_label)] + [(g.pk, str(g)) for g in choices]
