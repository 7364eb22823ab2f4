"""``Repository``: branches, tags, history and sessions over one storage location."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from icechunk._config_classes import RepositoryConfig
from icechunk._icechunk import (
    Attribution,
    Diff,
    EngineConfig,
    PyRepository,
    SnapshotInfo,
    SpecVersion,
    Storage,
    StorageSettings,
)
from icechunk._repository_gc import RepositoryMaintenance
from icechunk._repository_state import RepositoryState
from icechunk.credentials import Credentials
from icechunk.errors import InvalidInputError, RepositoryNotFoundError
from icechunk.session import Session
from icechunk.store import IcechunkStore

if TYPE_CHECKING:
    from icechunk.conflicts import ConflictSolver

__all__ = ["Repository"]


def _utc(when: dt.datetime | None) -> dt.datetime | None:
    """An aware UTC datetime; a naive one is taken as local time, like Python does."""
    return None if when is None else when.astimezone(dt.UTC)


def _engine(
    config: RepositoryConfig | None, saved: EngineConfig | None = None
) -> EngineConfig | None:
    """The engine's settings for ``config``. Opening an existing repository merges ``config``
    over the ``saved`` one (Icechunk's rule), so a config that sets one field changes only it."""
    if config is None:
        return None
    if not isinstance(config, RepositoryConfig):
        raise TypeError(f"config must be an icechunk.RepositoryConfig, got {type(config).__name__}")
    if saved is not None:
        config = RepositoryConfig._from_engine(saved).merge(config)
    return config._to_engine()


def _saved(config: RepositoryConfig | None, storage: Storage) -> EngineConfig | None:
    """The stored config to merge ``config`` over (only fetched when there is one to merge;
    a config of the wrong type is refused by ``_engine`` before any I/O)."""
    if not isinstance(config, RepositoryConfig):
        return None
    try:
        return PyRepository.fetch_config(storage)
    except RepositoryNotFoundError:
        return None


async def _saved_async(config: RepositoryConfig | None, storage: Storage) -> EngineConfig | None:
    if not isinstance(config, RepositoryConfig):
        return None
    try:
        return await PyRepository.fetch_config_async(storage)
    except RepositoryNotFoundError:
        return None


def _check_opening(
    attribution: Attribution | None,
    version: int | SpecVersion | None = None,
    check_clean_root: bool = True,
) -> None:
    """Refuses, before any I/O, the opening options this engine cannot honour."""
    if attribution is not None and not isinstance(attribution, Attribution):
        raise TypeError(f"attribution must be an icechunk.Attribution, got {type(attribution)}")
    current = int(SpecVersion.current())
    if version is not None and int(version) != current:
        raise InvalidInputError(f"this engine writes format version {current} only, not {version}")
    if not check_clean_root:
        raise InvalidInputError(
            "check_clean_root=False is refused: a repository is created only in an empty "
            "location, so that no stray object can be mistaken for one of its own"
        )


def _authorizations(
    authorize_virtual_chunk_access: dict[str, Any] | None,
) -> dict[str, Credentials | None] | None:
    """``authorize_virtual_chunk_access`` checked: url prefixes to ``Credentials`` (or the
    deprecated ``None``, which reads credentials from the environment, as Icechunk 2.3
    does; it warns)."""
    if authorize_virtual_chunk_access is None:
        return None
    if not isinstance(authorize_virtual_chunk_access, dict):
        raise TypeError(
            "authorize_virtual_chunk_access must be a dict of url prefixes to credentials, got "
            f"{type(authorize_virtual_chunk_access).__name__}"
        )
    for prefix, credential in authorize_virtual_chunk_access.items():
        if not isinstance(prefix, str):
            raise TypeError(f"authorize_virtual_chunk_access keys are url prefixes, got {prefix!r}")
        if credential is None:
            warnings.warn(
                f"Passing `None` in `authorize_virtual_chunk_access` for container `{prefix}` is "
                "deprecated: it reads credentials from the environment (or uses anonymous "
                "access), which can expose private credentials. Pass an explicit credential "
                "(icechunk.containers_credentials wraps S3/GCS/Azure ones) or the "
                "icechunk.credentials.LocalFileSystemAccess / HttpAccess sentinel.",
                DeprecationWarning,
                stacklevel=3,
            )
        elif not isinstance(credential, Credentials):
            raise TypeError(
                f"the credentials for `{prefix}` must be icechunk.Credentials (see "
                f"icechunk.containers_credentials), got {type(credential).__name__}"
            )
    return dict(authorize_virtual_chunk_access)


def _labelled(storage: Storage, attribution: Attribution | None) -> Storage:
    """The storage the repository talks through: ``storage`` rebuilt so that every request
    carries ``attribution`` in its ``User-Agent``. Memory and local folders send no requests,
    so they come back as they are (the attribution is only recorded)."""
    return storage if attribution is None else storage._with_attribution(attribution)


class Repository(RepositoryState, RepositoryMaintenance):
    """A versioned Zarr hierarchy: every write is a commit on a branch.

    Build one with ``Repository.create``, ``open`` or ``open_or_create``; their
    ``attribution=`` (an ``Attribution``) labels every request the repository sends to a
    cloud store in its ``User-Agent``. The repository's own state (status, metadata, flags,
    saved config, operations log) is in ``RepositoryState``.
    """

    # ---- lifecycle -------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        spec_version: int | SpecVersion | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Repository:
        """A new repository (with a ``main`` branch) in an empty location."""
        _check_opening(attribution, spec_version, check_clean_root)
        authorized = _authorizations(authorize_virtual_chunk_access)
        core = PyRepository.create(_labelled(storage, attribution), _engine(config), authorized)
        return cls(core, storage, attribution, authorized)

    @classmethod
    def open(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        attribution: Attribution | None = None,
    ) -> Repository:
        """The repository at ``storage``; ``RepositoryNotFoundError`` if there is none.
        ``config`` is merged over the config saved in the repository."""
        _check_opening(attribution)
        authorized = _authorizations(authorize_virtual_chunk_access)
        labelled = _labelled(storage, attribution)
        core = PyRepository.open(labelled, _engine(config, _saved(config, labelled)), authorized)
        return cls(core, storage, attribution, authorized)

    @classmethod
    def open_or_create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        create_version: int | SpecVersion | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Repository:
        _check_opening(attribution, create_version, check_clean_root)
        authorized = _authorizations(authorize_virtual_chunk_access)
        labelled = _labelled(storage, attribution)
        engine = _engine(config, _saved(config, labelled))
        core = PyRepository.open_or_create(labelled, engine, authorized)
        return cls(core, storage, attribution, authorized)

    @staticmethod
    def exists(storage: Storage) -> bool:
        """Whether a repository exists at ``storage``."""
        return PyRepository.exists(storage)

    @classmethod
    async def create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        spec_version: int | SpecVersion | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Repository:
        _check_opening(attribution, spec_version, check_clean_root)
        authorized = _authorizations(authorize_virtual_chunk_access)
        labelled = _labelled(storage, attribution)
        core = await PyRepository.create_async(labelled, _engine(config), authorized)
        return cls(core, storage, attribution, authorized)

    @classmethod
    async def open_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        attribution: Attribution | None = None,
    ) -> Repository:
        _check_opening(attribution)
        authorized = _authorizations(authorize_virtual_chunk_access)
        labelled = _labelled(storage, attribution)
        engine = _engine(config, await _saved_async(config, labelled))
        core = await PyRepository.open_async(labelled, engine, authorized)
        return cls(core, storage, attribution, authorized)

    @classmethod
    async def open_or_create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        create_version: int | SpecVersion | None = None,
        check_clean_root: bool = True,
        attribution: Attribution | None = None,
    ) -> Repository:
        _check_opening(attribution, create_version, check_clean_root)
        authorized = _authorizations(authorize_virtual_chunk_access)
        labelled = _labelled(storage, attribution)
        engine = _engine(config, await _saved_async(config, labelled))
        core = await PyRepository.open_or_create_async(labelled, engine, authorized)
        return cls(core, storage, attribution, authorized)

    @staticmethod
    async def exists_async(storage: Storage) -> bool:
        return await PyRepository.exists_async(storage)

    @staticmethod
    def fetch_spec_version(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        """The format version of the repository at ``storage`` (``None``: no repository),
        without opening it; ``storage_settings`` apply to the one request this takes."""
        if storage_settings is not None:
            storage = storage.with_settings(storage_settings)
        return SpecVersion.current() if PyRepository.exists(storage) else None

    @staticmethod
    async def fetch_spec_version_async(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        if storage_settings is not None:
            storage = storage.with_settings(storage_settings)
        return SpecVersion.current() if await PyRepository.exists_async(storage) else None

    @property
    def spec_version(self) -> SpecVersion:
        """The format version of this repository (this engine has one)."""
        return SpecVersion.current()

    @property
    def attribution(self) -> Attribution:
        """The labels of this repository's requests, as given when it was opened (all
        ``None`` when none were); ``reopen`` keeps them."""
        return self._attribution

    @property
    def config(self) -> RepositoryConfig:
        """The config this handle applies (a copy: change it, then ``reopen``)."""
        return RepositoryConfig._from_engine(self._repository.config)

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def authorized_virtual_container_prefixes(self) -> set[str]:
        """The url prefixes of the virtual chunk containers this handle may read (those of
        ``authorize_virtual_chunk_access``)."""
        return set(self._repository.authorized_virtual_container_prefixes)

    def __getstate__(self) -> dict[str, Any]:
        config = self._repository.config
        return {
            "storage": self._storage,
            "config": config,
            "attribution": self._attribution,
            # Credentials travel as the storage's do (pickled with it).
            "authorizations": self._authorizations,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._storage = state["storage"]
        self._attribution = state["attribution"]
        self._authorizations = state.get("authorizations")
        labelled = _labelled(self._storage, self._attribution)
        self._repository = PyRepository.open(labelled, state["config"], self._authorizations)

    def __repr__(self) -> str:
        return f"<icechunk.Repository at {self._storage!r}>"

    # ---- commit metadata and inspection -------------------------------------------------
    def set_default_commit_metadata(self, metadata: dict[str, Any]) -> None:
        """Metadata merged under every commit's own (a commit's keys win), in sessions opened
        after this call, in this process. ``{}`` clears it."""
        self._repository.set_default_commit_metadata(metadata)

    def default_commit_metadata(self) -> dict[str, Any]:
        return self._repository.default_commit_metadata()

    def inspect_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """The snapshot as a JSON document: its commit, nodes (with each array's manifests)
        and ancestor summaries."""
        return self._repository.inspect_snapshot(snapshot_id)

    async def inspect_snapshot_async(self, snapshot_id: str) -> dict[str, Any]:
        return await self._repository.inspect_snapshot_async(snapshot_id)

    def inspect_manifest(self, manifest_id: str) -> dict[str, Any]:
        """A manifest object (``manifests/<id>``) as a JSON document: its chunk references.
        Small manifests live inside their snapshot (``inline`` in ``inspect_snapshot``)."""
        return self._repository.inspect_manifest(manifest_id)

    async def inspect_manifest_async(self, manifest_id: str) -> dict[str, Any]:
        return await self._repository.inspect_manifest_async(manifest_id)

    def inspect_transaction_log(self, snapshot_id: str) -> dict[str, Any]:
        """What the commit ``snapshot_id`` changed, as a JSON document."""
        return self._repository.inspect_transaction_log(snapshot_id)

    async def inspect_transaction_log_async(self, snapshot_id: str) -> dict[str, Any]:
        return await self._repository.inspect_transaction_log_async(snapshot_id)

    def inspect_repo_info(self) -> dict[str, Any]:
        """The config, branches and tags (with their snapshots) and the format version."""
        return self._repository.inspect_repo_info()

    async def inspect_repo_info_async(self) -> dict[str, Any]:
        return await self._repository.inspect_repo_info_async()

    # ---- sessions --------------------------------------------------------------------
    def readonly_session(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: dt.datetime | None = None,
    ) -> Session:
        """A read-only view of one version: a branch tip (or the branch as it was at
        ``as_of``), a tag, or a snapshot id. It never changes, whatever happens to refs."""
        core = self._repository.readonly_session(
            branch=branch, tag=tag, snapshot_id=snapshot_id, as_of=_utc(as_of)
        )
        return Session(core, self)

    async def readonly_session_async(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: dt.datetime | None = None,
    ) -> Session:
        core = await self._repository.readonly_session_async(
            branch=branch, tag=tag, snapshot_id=snapshot_id, as_of=_utc(as_of)
        )
        return Session(core, self)

    def writable_session(self, branch: str) -> Session:
        """A session on the tip of ``branch`` whose ``commit`` moves the branch."""
        return Session(self._repository.writable_session(branch), self)

    async def writable_session_async(self, branch: str) -> Session:
        return Session(await self._repository.writable_session_async(branch), self)

    def rearrange_session(self, branch: str) -> Session:
        """A session on the tip of ``branch`` that moves groups and arrays
        (``Session.move``) and writes nothing else; ``SessionStateError`` while the feature
        flag ``move_node`` is off. Its commit is not rebased: if the branch moved, open a
        new one."""
        return Session(self._repository.rearrange_session(branch), self)

    async def rearrange_session_async(self, branch: str) -> Session:
        return Session(await self._repository.rearrange_session_async(branch), self)

    @contextmanager
    def transaction(
        self,
        branch: str,
        *,
        message: str,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
    ) -> Iterator[IcechunkStore]:
        """Yields a writable store; commits on normal exit, commits nothing if the block
        raises (the exception propagates). With ``rebase_with``, a branch that moved
        meanwhile is rebased onto (see ``Session.commit``)."""
        session = self.writable_session(branch)
        yield session.store
        session.commit(
            message, metadata=metadata, rebase_with=rebase_with, rebase_tries=rebase_tries
        )

    # ---- history ---------------------------------------------------------------------
    def ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> Iterator[SnapshotInfo]:
        """Snapshots from the given version back to the first one, newest first."""
        return self._repository.ancestry(branch=branch, tag=tag, snapshot_id=snapshot_id)

    def async_ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> AsyncIterator[SnapshotInfo]:
        """``ancestry`` for asyncio: an async iterator, fetching without blocking the loop."""

        async def snapshots() -> AsyncIterator[SnapshotInfo]:
            history = await self._repository.ancestry_async(
                branch=branch, tag=tag, snapshot_id=snapshot_id
            )
            async for info in history:
                yield info

        return snapshots()

    def lookup_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        return self._repository.lookup_snapshot(snapshot_id)

    async def lookup_snapshot_async(self, snapshot_id: str) -> SnapshotInfo:
        return await self._repository.lookup_snapshot_async(snapshot_id)

    def diff(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """What changed from one version to a later one."""
        return self._repository.diff(
            from_branch=from_branch,
            from_tag=from_tag,
            from_snapshot_id=from_snapshot_id,
            to_branch=to_branch,
            to_tag=to_tag,
            to_snapshot_id=to_snapshot_id,
        )

    async def diff_async(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        return await self._repository.diff_async(
            from_branch=from_branch,
            from_tag=from_tag,
            from_snapshot_id=from_snapshot_id,
            to_branch=to_branch,
            to_tag=to_tag,
            to_snapshot_id=to_snapshot_id,
        )

    # ---- branches --------------------------------------------------------------------
    def create_branch(self, branch: str, snapshot_id: str) -> None:
        self._repository.create_branch(branch, snapshot_id)

    async def create_branch_async(self, branch: str, snapshot_id: str) -> None:
        await self._repository.create_branch_async(branch, snapshot_id)

    def list_branches(self) -> set[str]:
        return self._repository.list_branches()

    async def list_branches_async(self) -> set[str]:
        return await self._repository.list_branches_async()

    def lookup_branch(self, branch: str) -> str:
        """The snapshot id at the tip of ``branch``."""
        return self._repository.lookup_branch(branch)

    async def lookup_branch_async(self, branch: str) -> str:
        return await self._repository.lookup_branch_async(branch)

    def delete_branch(self, branch: str) -> None:
        self._repository.delete_branch(branch)

    async def delete_branch_async(self, branch: str) -> None:
        await self._repository.delete_branch_async(branch)

    def reset_branch(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Point ``branch`` at ``snapshot_id`` (undo). With ``from_snapshot_id``, only if
        the branch is still there (else ``ConflictError``)."""
        self._repository.reset_branch(branch, snapshot_id, from_snapshot_id=from_snapshot_id)

    async def reset_branch_async(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        await self._repository.reset_branch_async(
            branch, snapshot_id, from_snapshot_id=from_snapshot_id
        )

    # ---- tags ------------------------------------------------------------------------
    def create_tag(self, tag: str, snapshot_id: str) -> None:
        self._repository.create_tag(tag, snapshot_id)

    async def create_tag_async(self, tag: str, snapshot_id: str) -> None:
        await self._repository.create_tag_async(tag, snapshot_id)

    def list_tags(self) -> set[str]:
        return self._repository.list_tags()

    async def list_tags_async(self) -> set[str]:
        return await self._repository.list_tags_async()

    def lookup_tag(self, tag: str) -> str:
        return self._repository.lookup_tag(tag)

    async def lookup_tag_async(self, tag: str) -> str:
        return await self._repository.lookup_tag_async(tag)

    def delete_tag(self, tag: str) -> None:
        """Delete a tag; its name can never be used again."""
        self._repository.delete_tag(tag)

    async def delete_tag_async(self, tag: str) -> None:
        await self._repository.delete_tag_async(tag)
