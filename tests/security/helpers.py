"""Shared by the security group tests."""

from security import services as security_services
from security.models import SecurityGroup


def update_group(actor, group: SecurityGroup, **changes) -> SecurityGroup:
    """group_update with the group's saved values, but `changes`."""
    group = SecurityGroup.objects.get(pk=group.pk)
    fields = {
        "name": group.name,
        "level": group.level,
        "description": group.description,
        "permissions": list(group.permissions.all()),
    } | changes
    return security_services.group_update(actor=actor, group=group, **fields)
