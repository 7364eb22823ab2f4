"""The repository's own state, as ``Repository`` methods: status, metadata, feature flags,
the saved config, the operations log, and what chunks and manifests occupy.

Each value is read fresh from storage (another process may have changed it); see
spec/format.md §12 for how it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

from icechunk._config_classes import RepositoryConfig
from icechunk._icechunk import (
    AncestryGraph,
    Attribution,
    ChunkStorageStats,
    FeatureFlag,
    ManifestFileInfo,
    PyRepository,
    RepoStatus,
    Storage,
    Update,
)
from icechunk.types import CommitMethod

__all__ = ["RepositoryState"]


def _amends(commit_method: CommitMethod) -> bool:
    if commit_method not in ("new_commit", "amend"):
        raise ValueError(f"commit_method must be 'new_commit' or 'amend', not {commit_method!r}")
    return commit_method == "amend"


class RepositoryState:
    """Mixed into ``Repository``."""

    def __init__(
        self,
        core: PyRepository,
        storage: Storage,
        attribution: Attribution | None = None,
        authorizations: dict[str, Any] | None = None,
    ) -> None:
        self._repository = core
        # As given: the core talks through this storage rebuilt with the attribution.
        self._storage = storage
        self._attribution = Attribution() if attribution is None else attribution
        # The virtual chunk authorizations as given (credentials objects), for pickling.
        self._authorizations = authorizations

    # ---- status --------------------------------------------------------------------
    @property
    def status(self) -> RepoStatus:
        """Whether the repository takes writes (``RepoAvailability.online``) or not."""
        return self._repository.get_status()

    def get_status(self) -> RepoStatus:
        return self._repository.get_status()

    async def get_status_async(self) -> RepoStatus:
        return await self._repository.get_status_async()

    def set_status(self, status: RepoStatus) -> None:
        """Sets the status; while ``read_only``, every write (writable sessions, commits, ref
        and state changes except this one) raises ``ReadOnlyError``. ``set_at`` is now."""
        self._repository.set_status(status)

    async def set_status_async(self, status: RepoStatus) -> None:
        await self._repository.set_status_async(status)

    # ---- metadata ------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """The repository's metadata (a JSON object)."""
        return self._repository.get_metadata()

    def get_metadata(self) -> dict[str, Any]:
        return self._repository.get_metadata()

    async def get_metadata_async(self) -> dict[str, Any]:
        return await self._repository.get_metadata_async()

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replaces the repository's metadata."""
        self._repository.set_metadata(metadata)

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        await self._repository.set_metadata_async(metadata)

    def update_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Merges ``metadata`` into the repository's (its top-level keys win) and returns the
        result; a concurrent update is never lost."""
        return self._repository.update_metadata(metadata)

    async def update_metadata_async(self, metadata: dict[str, Any]) -> dict[str, Any]:
        return await self._repository.update_metadata_async(metadata)

    # ---- feature flags -------------------------------------------------------------
    def feature_flags(self) -> list[FeatureFlag]:
        """Every flag (``move_node``, ``create_tag``, ``delete_tag``) with its setting."""
        return self._repository.feature_flags()

    async def feature_flags_async(self) -> list[FeatureFlag]:
        return await self._repository.feature_flags_async()

    def enabled_feature_flags(self) -> list[FeatureFlag]:
        return [f for f in self.feature_flags() if f.enabled]

    async def enabled_feature_flags_async(self) -> list[FeatureFlag]:
        return [f for f in await self.feature_flags_async() if f.enabled]

    def disabled_feature_flags(self) -> list[FeatureFlag]:
        return [f for f in self.feature_flags() if not f.enabled]

    async def disabled_feature_flags_async(self) -> list[FeatureFlag]:
        return [f for f in await self.feature_flags_async() if not f.enabled]

    def set_feature_flag(self, name: str, setting: bool | None) -> None:
        """Switches an operation on (``True``) or off (``False``), or back to its default
        (``None``); an unknown name raises ``InvalidInputError``."""
        self._repository.set_feature_flag(name, setting)

    async def set_feature_flag_async(self, name: str, setting: bool | None) -> None:
        await self._repository.set_feature_flag_async(name, setting)

    # ---- config --------------------------------------------------------------------
    def save_config(self) -> None:
        """Stores this repository's config: ``Repository.open`` applies it from now on."""
        self._repository.save_config()

    async def save_config_async(self) -> None:
        await self._repository.save_config_async()

    @staticmethod
    def fetch_config(storage: Storage) -> RepositoryConfig | None:
        """The config ``open`` would apply: the one saved last, else the one stored at
        creation. ``RepositoryNotFoundError`` when there is no repository."""
        engine = PyRepository.fetch_config(storage)
        return None if engine is None else RepositoryConfig._from_engine(engine)

    @staticmethod
    async def fetch_config_async(storage: Storage) -> RepositoryConfig | None:
        engine = await PyRepository.fetch_config_async(storage)
        return None if engine is None else RepositoryConfig._from_engine(engine)

    def reopen(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Self:
        """The same repository with ``config`` (default: this one's) and, when given, these
        virtual chunk authorizations (default: this one's), as a new handle."""
        from icechunk.repository import _authorizations

        authorized = _authorizations(authorize_virtual_chunk_access)
        current = RepositoryConfig._from_engine(self._repository.config)
        engine = None if config is None else current.merge(config)._to_engine()
        # The core keeps its storage, attribution included.
        core = self._repository.reopen(engine, authorized)
        kept = self._authorizations if authorized is None else authorized
        return type(self)(core, self._storage, self._attribution, kept)

    async def reopen_async(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Self:
        return self.reopen(config, authorize_virtual_chunk_access)

    # ---- history of changes and sizes ----------------------------------------------
    def ops_log(self) -> Iterator[Update]:
        """Every change of a branch, tag, status, metadata, flag or config, newest first."""
        return iter(self._repository.ops_log())

    async def ops_log_async(self) -> Iterator[Update]:
        return iter(await self._repository.ops_log_async())

    def chunk_storage_stats(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        """Bytes of the chunks reachable from any branch or tag, each stored byte once.
        The memory bounds are Icechunk's; ours come from the repository's caches."""
        return self._repository.chunk_storage_stats(max_concurrent_manifest_fetches)

    async def chunk_storage_stats_async(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        return await self._repository.chunk_storage_stats_async(max_concurrent_manifest_fetches)

    def total_chunks_storage(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> int:
        """Bytes of chunk objects reachable from any branch or tag (inline chunks not counted,
        as Icechunk)."""
        return self.chunk_storage_stats(
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches
        ).native_bytes

    async def total_chunks_storage_async(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> int:
        stats = await self.chunk_storage_stats_async(
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches
        )
        return stats.native_bytes

    def ancestry_graph(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        plain: bool = False,
    ) -> AncestryGraph:
        """A drawing of history: with no argument every branch as a tree, else one branch's,
        tag's or snapshot's line. ``print()`` it (colors unless ``plain``), or let Jupyter
        show it (SVG)."""
        return self._repository.ancestry_graph(branch, tag, snapshot_id, plain)

    async def ancestry_graph_async(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        plain: bool = False,
    ) -> AncestryGraph:
        return await self._repository.ancestry_graph_async(branch, tag, snapshot_id, plain)

    def rewrite_manifests(
        self,
        message: str,
        *,
        branch: str,
        metadata: dict[str, Any] | None = None,
        commit_method: CommitMethod = "new_commit",
    ) -> str:
        """Commit on ``branch`` a snapshot with the same data and every manifest shard laid
        out again by this repository's configuration (``manifest_shard_size`` and the inline
        threshold, see the README's configuration table): after changing them, or to fold many
        small shard updates into fresh shards. No chunk is copied. ``commit_method="amend"``
        replaces the branch tip instead of following it. The layout used is recorded in the
        commit's metadata under ``"manifest_layout"``. Returns the new snapshot id."""
        return self._repository.rewrite_manifests(message, branch, metadata, _amends(commit_method))

    async def rewrite_manifests_async(
        self,
        message: str,
        *,
        branch: str,
        metadata: dict[str, Any] | None = None,
        commit_method: CommitMethod = "new_commit",
    ) -> str:
        return await self._repository.rewrite_manifests_async(
            message, branch, metadata, _amends(commit_method)
        )

    def list_manifest_files(self, snapshot_id: str) -> list[ManifestFileInfo]:
        """The manifest objects of a snapshot (small manifests inside it are not files)."""
        return self._repository.list_manifest_files(snapshot_id)

    async def list_manifest_files_async(self, snapshot_id: str) -> list[ManifestFileInfo]:
        return await self._repository.list_manifest_files_async(snapshot_id)
