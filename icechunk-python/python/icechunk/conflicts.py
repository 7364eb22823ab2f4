"""Conflict resolution for ``Session.rebase`` and ``commit(rebase_with=...)``.

When a branch moves while a session is open, ``Session.rebase(solver)`` replays the
session's changes on top of each commit that landed meanwhile. Conflicts are found at
chunk granularity from the transaction logs: writers of disjoint chunks never conflict.

``ConflictDetector()`` fails on any conflict. ``BasicConflictSolver`` settles chunks written
by both sides as ``on_chunk_conflict`` says, and lets our deletion of a node they updated
win unless told to fail. Unsettled conflicts raise ``RebaseFailedError``, whose
``conflicts`` list them (``Conflict``: ``conflict_type``, ``path``, ``conflicted_chunks``).
"""

from __future__ import annotations

import enum

from icechunk._icechunk import (
    BasicConflictSolver,
    ConflictDetector,
    ConflictSolver,
    VersionSelection,
)

__all__ = [
    "BasicConflictSolver",
    "Conflict",
    "ConflictDetector",
    "ConflictSolver",
    "ConflictType",
    "VersionSelection",
]


class ConflictType(enum.StrEnum):
    """The kinds of conflict a rebase can find (values are the names)."""

    NewNodeConflictsWithExistingNode = "NewNodeConflictsWithExistingNode"
    NewNodeInInvalidGroup = "NewNodeInInvalidGroup"
    ZarrMetadataDoubleUpdate = "ZarrMetadataDoubleUpdate"
    ZarrMetadataUpdateOfDeletedArray = "ZarrMetadataUpdateOfDeletedArray"
    ZarrMetadataUpdateOfDeletedGroup = "ZarrMetadataUpdateOfDeletedGroup"
    ChunkDoubleUpdate = "ChunkDoubleUpdate"
    ChunksUpdatedInDeletedArray = "ChunksUpdatedInDeletedArray"
    ChunksUpdatedInUpdatedArray = "ChunksUpdatedInUpdatedArray"
    DeleteOfUpdatedArray = "DeleteOfUpdatedArray"
    DeleteOfUpdatedGroup = "DeleteOfUpdatedGroup"
    MoveOperationCannotBeRebased = "MoveOperationCannotBeRebased"


class Conflict:
    """One conflict a rebase could not settle.

    ``conflict_type`` names its kind, ``path`` is the node's path (``/group/array``) and
    ``conflicted_chunks`` the chunk coordinates both sides wrote (empty for node conflicts).
    """

    __slots__ = ("conflict_type", "conflicted_chunks", "path")

    def __init__(
        self,
        conflict_type: ConflictType | str,
        path: str,
        conflicted_chunks: list[tuple[int, ...]] | None = None,
    ) -> None:
        try:
            self.conflict_type: ConflictType | str = ConflictType(conflict_type)
        except ValueError:  # a kind newer than this module: keep the name
            self.conflict_type = str(conflict_type)
        self.path = path
        self.conflicted_chunks = [tuple(c) for c in conflicted_chunks or ()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Conflict):
            return NotImplemented
        return (self.conflict_type, self.path, self.conflicted_chunks) == (
            other.conflict_type,
            other.path,
            other.conflicted_chunks,
        )

    def __hash__(self) -> int:
        return hash((str(self.conflict_type), self.path, tuple(self.conflicted_chunks)))

    def __reduce__(self) -> tuple[type[Conflict], tuple[str, str, list[tuple[int, ...]]]]:
        return (type(self), (str(self.conflict_type), self.path, self.conflicted_chunks))

    def __str__(self) -> str:
        text = f"{self.conflict_type} at {self.path}"
        if self.conflicted_chunks:
            shown = ", ".join(str(c) for c in self.conflicted_chunks[:10])
            more = len(self.conflicted_chunks) - 10
            text += f" chunks {shown}" + (f" and {more} more" if more > 0 else "")
        return text

    def __repr__(self) -> str:
        return (
            f"Conflict({str(self.conflict_type)!r}, {self.path!r}, "
            f"conflicted_chunks={self.conflicted_chunks!r})"
        )
