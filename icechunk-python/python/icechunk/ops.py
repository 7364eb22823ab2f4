"""The repository's operations log (``Update`` entries and their ``UpdateType``) and what
a garbage collection did (``GCSummary``)."""

from __future__ import annotations

from icechunk._icechunk import GCSummary, Update, UpdateType

__all__ = ["GCSummary", "Update", "UpdateType"]
