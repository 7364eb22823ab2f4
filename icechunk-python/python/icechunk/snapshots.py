"""What history is made of: ``SnapshotInfo``, ``Diff``, ``ManifestFileInfo`` and
``AncestryGraph`` (a drawing of the history)."""

from __future__ import annotations

from icechunk._icechunk import AncestryGraph, Diff, ManifestFileInfo, SnapshotInfo

__all__ = ["AncestryGraph", "Diff", "ManifestFileInfo", "SnapshotInfo"]
