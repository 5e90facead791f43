"""Who is at the keyboard: the operating-system user and host that record a decision.

A reviewer's ``--by`` name is a claim; the OS user and host are recorded beside it so that
an audit can tell who really decided. The user comes from the process's real user id, not
from environment variables that anyone can set; only where the user id names nobody (Windows,
a container run under a user id without an entry) is the login name asked, and it may come
from `LOGNAME` or `USER`.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket

from railgraph.errors import InputError
from railgraph.nodes._review import person_name

__all__ = ["os_host", "os_user", "starter"]


def os_user() -> str:
    """The name of the operating-system user running this process."""
    getuid = getattr(os, "getuid", None)  # none on Windows
    return _user_of(None if getuid is None else getuid())


@functools.lru_cache(maxsize=4)
def _user_of(uid: int | None) -> str:
    # Read once per user id: every run started without a name asks, and the password
    # database is a file read each time.
    if uid is not None:
        try:
            import pwd

            return pwd.getpwuid(uid).pw_name
        except (ImportError, KeyError):
            pass
    # No password database (Windows) or no entry (a container run under a bare user id):
    # the login name.
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        # No LOGNAME, USER or USERNAME either: getuser asks the password database
        # again (KeyError), or has none (ImportError, on Windows).
        return "unknown"


def os_host() -> str:
    """The name of the host running this process."""
    return socket.gethostname() or "unknown"


def starter(started_by: str | None) -> str:
    """Who starts a run: the name given, trimmed, or else the operating-system user.

    Raises:
        InputError: The name given is empty or only whitespace.
    """
    if started_by is None:
        return os_user()
    try:
        return person_name(started_by, "the name of who starts the run")
    except ValueError as exc:
        raise InputError(str(exc)) from None
