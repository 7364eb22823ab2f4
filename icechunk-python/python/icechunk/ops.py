"""The repository's operations log: ``Update`` entries and their ``UpdateType``."""

from __future__ import annotations

from icechunk._icechunk import Update, UpdateType

__all__ = ["Update", "UpdateType"]
