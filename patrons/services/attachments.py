"""Files on a patron's record: added and deleted by operators who may edit the Personal tab
(identity documents and signed forms are personal data), each change logged."""

import os

from django.db import transaction

from patrons.models import Attachment, Patron
from patrons.services.patron import _acting, _delete_file_on_commit
from security import log, policy

__all__ = ["attachment_add", "attachment_delete"]

EDIT = "patrons.edit_personal"


@transaction.atomic
def attachment_add(
    *, actor: Patron, patron: Patron, file, description: str, content_type: str
) -> Attachment:
    """Store the file under a name that reveals nothing; `content_type` is what the form
    found in its first bytes. A refused save leaves no file behind."""
    policy.require(actor, EDIT, patron)
    attachment = Attachment(
        patron=patron,
        file_name=_display_name(file.name),
        content_type=content_type,
        size=file.size,
        description=description,
        created_by=actor,
        updated_by=actor,
    )
    attachment.file.save(file.name, file, save=False)
    try:
        with _acting(actor):
            attachment.full_clean()
            attachment.save()
        log.record(
            log.Kind.PATRON_CHANGED,
            operator=actor,
            patron=patron,
            obj=attachment,
            details={"attachment_added": attachment.file_name},
        )
    except BaseException:
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


@transaction.atomic
def attachment_delete(*, actor: Patron, patron: Patron, attachment_id: int) -> Attachment:
    """Raises Attachment.DoesNotExist for an id that is not one of this patron's."""
    policy.require(actor, EDIT, patron)
    attachment = Attachment.objects.select_for_update().get(patron=patron, pk=attachment_id)
    log.record(
        log.Kind.PATRON_CHANGED,
        operator=actor,
        patron=patron,
        obj=attachment,
        details={"attachment_deleted": attachment.file_name},
    )
    with _acting(actor):
        attachment.delete()
    _delete_file_on_commit(attachment.file)
    return attachment


def _display_name(name: str) -> str:
    """The name the file had on the operator's computer, without any folder, for the
    download (never for storing)."""
    return os.path.basename(name.replace("\\", "/"))[:200] or "attachment"
