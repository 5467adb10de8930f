from patrons.models.bulk import ImportedValues, ImportFeed, ImportRow, ImportRun
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
from patrons.models.record import (
    Attachment,
    Block,
    Identifier,
    Note,
    PatronStatistic,
    ProgramMeasure,
    ProxyLink,
)

__all__ = [
    "email_required_message",
    "Attachment",
    "Block",
    "BlockType",
    "Guardian",
    "Identifier",
    "ImportedValues",
    "ImportFeed",
    "ImportRow",
    "ImportRun",
    "IdentifierType",
    "Note",
    "NoteType",
    "Patron",
    "PatronAddress",
    "PatronEmail",
    "PatronManager",
    "PatronPhone",
    "PatronStatistic",
    "PatronType",
    "Program",
    "ProgramMeasure",
    "ProxyLink",
    "StatisticalCategory",
]
