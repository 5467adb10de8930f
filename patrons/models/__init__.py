from patrons.models.contact import Guardian, PatronAddress, PatronEmail, PatronPhone
from patrons.models.lists import BlockType, IdentifierType, NoteType, PatronType
from patrons.models.patron import (
    EMAIL_REQUIRED,
    EMAIL_REQUIRED_FROM_LEVEL,
    HOME_SITE_ACCESS_FROM_LEVEL,
    Patron,
    PatronManager,
)
from patrons.models.record import Block, Identifier, Note

__all__ = [
    "EMAIL_REQUIRED",
    "EMAIL_REQUIRED_FROM_LEVEL",
    "HOME_SITE_ACCESS_FROM_LEVEL",
    "Block",
    "BlockType",
    "Guardian",
    "Identifier",
    "IdentifierType",
    "Note",
    "NoteType",
    "Patron",
    "PatronAddress",
    "PatronEmail",
    "PatronManager",
    "PatronPhone",
    "PatronType",
]
