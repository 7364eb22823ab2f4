"""``ForkSession``: the type of the sessions that ``Session.fork()`` returns.

A fork is a ``Session`` whose ``is_fork`` is true: it can be pickled to a worker, written
to there, and merged back with ``Session.merge``; it cannot commit. ``isinstance(s,
ForkSession)`` tells forks from other sessions.
"""

from __future__ import annotations

from typing import Any

from icechunk.session import Session

__all__ = ["ForkSession"]


class _ForkSessionType(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Session) and bool(getattr(instance, "is_fork", False))


class ForkSession(Session, metaclass=_ForkSessionType):
    """A ``Session`` made by ``Session.fork()``: written to elsewhere, then merged back into
    the session it came from (``Session.merge``), never committed."""
