"""Type aliases of the API."""

from __future__ import annotations

from typing import Literal

#: How ``rewrite_manifests`` records its result: a new commit, or amending the tip.
CommitMethod = Literal["new_commit", "amend"]

__all__ = ["CommitMethod"]
