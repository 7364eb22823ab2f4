"""Conflict resolution for ``Session.rebase``: names reserved, not implemented yet.

Rebasing a session onto a moved branch is planned for a later version. Until then a
``ConflictError`` from ``Session.commit`` means: open a new writable session from the
branch tip and apply the changes again.
"""

from __future__ import annotations

import enum

__all__ = ["BasicConflictSolver", "ConflictDetector", "ConflictSolver", "VersionSelection"]

_NOT_YET = (
    "rebase is not implemented in this version of icechunk: on ConflictError, open a new "
    "writable session from the branch tip and apply your changes again"
)


class VersionSelection(enum.Enum):
    """Which side wins a chunk conflict."""

    Fail = 0
    UseOurs = 1
    UseTheirs = 2


class ConflictSolver:
    """Base class of conflict solvers (not usable yet)."""

    def _solve(self) -> None:
        raise NotImplementedError(_NOT_YET)


class ConflictDetector(ConflictSolver):
    """Would fail the rebase on any conflict (not implemented yet)."""


class BasicConflictSolver(ConflictSolver):
    """Would settle chunk conflicts by ``on_chunk_conflict`` (not implemented yet)."""

    def __init__(
        self,
        *,
        on_chunk_conflict: VersionSelection = VersionSelection.UseOurs,
        fail_on_delete_of_updated_array: bool = False,
        fail_on_delete_of_updated_group: bool = False,
    ) -> None:
        self.on_chunk_conflict = on_chunk_conflict
        self.fail_on_delete_of_updated_array = fail_on_delete_of_updated_array
        self.fail_on_delete_of_updated_group = fail_on_delete_of_updated_group
