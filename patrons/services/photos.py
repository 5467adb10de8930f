"""Photo import: a zip of JPEG/PNG files named by barcode or admin system id.

Each file is checked and resized exactly as the Personal tab's photo (PhotoField), and
saved through `patron_update` with the Personal tab's action, so the policy, the history
and the deletion of the replaced file apply to each patron.

The zip is read from the upload, never extracted to disk (a name with ".." or a leading
"/" is only a name). It is bounded before anything is decompressed: the number of members
(read from the end-of-central-directory record, before zipfile parses the directory), each
member's declared size, the declared total and the compression ratio; and a member is read
at most PHOTO_MAX_BYTES + 1 bytes, whatever its header claims. Every member to be used is
read once before anything is saved: a corrupt zip is refused whole and writes nothing.
"""

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from patrons.forms.record import PHOTO_MAX_BYTES, PHOTO_TOO_LARGE, PhotoField
from patrons.models import Patron
from patrons.services.patron import StaleEdit, patron_update
from security import log, policy

__all__ = [
    "MATCH_FIELDS",
    "PhotoImportResult",
    "ZIP_CORRUPT",
    "ZIP_EMPTY",
    "ZIP_NOT_A_ZIP",
    "ZIP_TOO_BIG_UNCOMPRESSED",
    "ZIP_TOO_MANY_MEMBERS",
    "photos_import",
]

IMPORT = "patrons.import_patrons"
EDIT = "patrons.edit_personal"
MATCH_FIELDS = ("barcode", "admin_system_id")
MAX_MEMBERS = 5_000
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
# JPEG and PNG are compressed already: a member that deflates far better is not a photo.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR_BYTES = 64 * 1024  # tiny files may compress well without harm
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})

ZIP_NOT_A_ZIP = "This file is not a zip archive: choose a .zip file of photos."
ZIP_EMPTY = "The zip archive holds no files."
ZIP_CORRUPT = "The zip archive is damaged ({name} cannot be read): nothing was imported."
ZIP_TOO_MANY_MEMBERS = f"The zip archive holds more than {MAX_MEMBERS:,} files: split it up."
ZIP_TOO_BIG_UNCOMPRESSED = (
    "The zip archive's files add up to more than 1 GB once unpacked: split it up."
)
MATCHED_NOBODY = "matched nobody you can edit"
MATCHED_SEVERAL = "matches several patrons you can edit: name the file by barcode instead"
DUPLICATE = "another file in the zip is for the same patron: neither was used"
NOT_AN_IMAGE = "not a JPEG or PNG image"
SUSPICIOUS = "compressed far better than any photo: not read"
CHANGED_MEANWHILE = "the record changed while importing: import this file again"


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class PhotoImportResult:
    updated: list[str] = field(default_factory=list)  # file names
    skipped: list[Skipped] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # folders, __MACOSX, ._ files

    def skipped_for(self, reason: str) -> list[str]:
        return [row.file for row in self.skipped if row.reason == reason]


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    file_name: str  # the last part of the name, folders dropped
    key: str  # the name without its extension


def photos_import(*, actor: Patron, archive, match_by: str) -> PhotoImportResult:
    """Import the photos of the zip `archive` (a file object), matched on `match_by` (one
    of MATCH_FIELDS). Raises ValidationError, having written nothing, for a bad zip."""
    policy.require(actor, IMPORT)
    if match_by not in MATCH_FIELDS:
        raise ValidationError({"match_by": "Choose barcode or admin system id."})
    result = PhotoImportResult()
    with _open_zip(archive) as bundle:
        members = _members(bundle, result)
        chosen = _match(actor, members, match_by, result)
        _read_all_or_refuse(bundle, chosen)
        for member, patron in chosen:
            _import_one(actor, bundle, member, patron, result)
    log.record(
        log.Kind.PHOTOS,
        operator=actor,
        details={"updated": len(result.updated), "skipped": len(result.skipped)},
    )
    return result


# --- the zip ------------------------------------------------------------------------------


def _open_zip(archive) -> zipfile.ZipFile:
    count = _declared_member_count(archive)
    if count > MAX_MEMBERS:
        raise ValidationError(ZIP_TOO_MANY_MEMBERS, code="too_many")
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as error:
        raise ValidationError(ZIP_NOT_A_ZIP, code="not_a_zip") from error
    try:
        _check_bounds(bundle.infolist())
    except ValidationError:
        bundle.close()
        raise
    return bundle


def _check_bounds(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise ValidationError(ZIP_TOO_MANY_MEMBERS, code="too_many")
    if not any(not info.is_dir() for info in infos):
        raise ValidationError(ZIP_EMPTY, code="empty")
    if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
        raise ValidationError(ZIP_TOO_BIG_UNCOMPRESSED, code="too_big")


_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _declared_member_count(archive) -> int:
    """The member count the archive's end record declares (0 when there is none: zipfile
    then says it is not a zip). Read before zipfile parses the central directory, which
    costs memory for every entry however many there are."""
    archive.seek(0, io.SEEK_END)
    size = archive.tell()
    tail_start = max(0, size - (22 + 65_535))
    archive.seek(tail_start)
    tail = archive.read()
    archive.seek(0)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 22:
        return 0
    count = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        return _zip64_count(archive, struct.unpack("<Q", tail[at - 12 : at - 4])[0])
    return count


def _zip64_count(archive, offset: int) -> int:
    archive.seek(offset)
    record = archive.read(56)
    archive.seek(0)
    if len(record) < 40 or record[:4] != _ZIP64_EOCD:
        return MAX_MEMBERS + 1  # a zip64 end record we cannot read: refuse rather than parse
    return struct.unpack("<Q", record[32:40])[0]


def _members(bundle: zipfile.ZipFile, result: PhotoImportResult) -> list[_Member]:
    """The members that may be photos; the others go to the result (ignored or skipped)."""
    members = []
    for info in bundle.infolist():
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or not parts:
            continue
        file_name = parts[-1]
        if "__MACOSX" in parts or file_name.startswith("."):
            result.ignored.append(info.filename)
            continue
        path = PurePosixPath(file_name)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            result.skipped.append(Skipped(file_name, NOT_AN_IMAGE))
        elif info.file_size > PHOTO_MAX_BYTES:
            result.skipped.append(Skipped(file_name, PHOTO_TOO_LARGE))
        elif _suspicious(info):
            result.skipped.append(Skipped(file_name, SUSPICIOUS))
        else:
            members.append(_Member(info, file_name, path.stem))
    return members


def _suspicious(info: zipfile.ZipInfo) -> bool:
    if info.file_size <= RATIO_FLOOR_BYTES:
        return False
    return info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)


def _read(bundle: zipfile.ZipFile, member: _Member) -> bytes:
    """At most PHOTO_MAX_BYTES + 1 bytes, whatever the member's header declares."""
    try:
        with bundle.open(member.info) as opened:
            return opened.read(PHOTO_MAX_BYTES + 1)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as error:
        raise ValidationError(ZIP_CORRUPT.format(name=member.file_name), code="corrupt") from error


def _read_all_or_refuse(bundle: zipfile.ZipFile, chosen) -> None:
    """Read every member to be used before saving any (the CRC is checked at its end)."""
    for member, _patron in chosen:
        _read(bundle, member)


# --- matching -----------------------------------------------------------------------------


def _match(actor, members: list[_Member], match_by: str, result: PhotoImportResult):
    """(member, patron) for each member whose name is one patron the actor may edit: one
    query for every name. Names that match nobody, or only patrons out of the actor's
    reach, say the same, so the import confirms no record."""
    keys = {member.key for member in members}
    found: dict[str, list[Patron]] = {}
    lookup = {f"{match_by}__in": keys}
    for patron in Patron.objects.filter(**lookup).select_related("security_group"):
        if policy.can(actor, EDIT, patron):
            found.setdefault(getattr(patron, match_by), []).append(patron)
    matched = []
    for member in members:
        patrons = found.get(member.key, [])
        if not patrons:
            result.skipped.append(Skipped(member.file_name, MATCHED_NOBODY))
        elif len(patrons) > 1:
            result.skipped.append(Skipped(member.file_name, MATCHED_SEVERAL))
        else:
            matched.append((member, patrons[0]))
    return _without_duplicates(matched, result)


def _without_duplicates(matched, result: PhotoImportResult):
    counts: dict[int, int] = {}
    for _member, patron in matched:
        counts[patron.pk] = counts.get(patron.pk, 0) + 1
    kept = []
    for member, patron in matched:
        if counts[patron.pk] > 1:
            result.skipped.append(Skipped(member.file_name, DUPLICATE))
        else:
            kept.append((member, patron))
    return kept


# --- saving -------------------------------------------------------------------------------


def _import_one(actor, bundle, member: _Member, patron: Patron, result) -> None:
    data = _read(bundle, member)
    try:
        photo = PhotoField(required=False).clean(SimpleUploadedFile(member.file_name, data))
    except ValidationError as error:
        result.skipped.append(Skipped(member.file_name, _reason(error)))
        return
    try:
        patron_update(actor=actor, patron=patron, action=EDIT, version=patron.version, photo=photo)
    except StaleEdit:
        result.skipped.append(Skipped(member.file_name, CHANGED_MEANWHILE))
    except (ValidationError, PermissionDenied) as error:
        _forget_stored(photo)
        result.skipped.append(Skipped(member.file_name, _reason(error)))
    else:
        result.updated.append(member.file_name)


def _reason(error) -> str:
    messages = getattr(error, "messages", None) or [str(error)]
    if any(code in ("invalid_image", "empty", "invalid") for code in _codes(error)):
        return NOT_AN_IMAGE
    return " ".join(messages)


def _codes(error) -> list[str]:
    if not isinstance(error, ValidationError):
        return []
    return [item.code for item in error.error_list] if hasattr(error, "error_list") else []


def _forget_stored(photo) -> None:
    """A save refused after the file was written (a rule checked after the row's save)
    leaves no file behind."""
    photo_field = Patron._meta.get_field("photo")
    name = photo_field.generate_filename(None, photo.name)
    if photo_field.storage.exists(name):
        photo_field.storage.delete(name)
