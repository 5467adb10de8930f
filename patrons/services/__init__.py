"""Operations that change patrons: `from patrons import services; services.patron_create(...)`.

patron.py holds the record and access operations; contact.py the Contact tab's."""

from patrons.services.attachments import *  # noqa: F403
from patrons.services.blocks import *  # noqa: F403
from patrons.services.contact import *  # noqa: F403
from patrons.services.generic import *  # noqa: F403
from patrons.services.identifiers import *  # noqa: F403
from patrons.services.merge import *  # noqa: F403
from patrons.services.notes import *  # noqa: F403
from patrons.services.patron import *  # noqa: F403
from patrons.services.patron import (  # noqa: F401 (private helpers other modules reuse)
    _acting,
    _locked,
)
from patrons.services.photos import *  # noqa: F403
from patrons.services.proxies import *  # noqa: F403
from patrons.services.purge import *  # noqa: F403
from patrons.services.statistics import *  # noqa: F403
from patrons.services.usernames import *  # noqa: F403
