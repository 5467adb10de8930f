from patrons.models.contact import Guardian, PatronAddress, PatronEmail, PatronPhone
from patrons.models.lists import (
    BlockType,
    IdentifierType,
    NoteType,
    PatronType,
    Program,
    StatisticalCategory,
)
from patrons.models.patron import (
    Patron,
    PatronManager,
    email_required_message,
)
from patrons.models.record import Block, Identifier, Note

__all__ = [
    "email_required_message",
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
    "Program",
    "StatisticalCategory",
]
