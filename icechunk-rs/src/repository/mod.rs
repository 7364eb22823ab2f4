//! The repository: creation and opening, branches and tags, history, and sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::asset_cache::AssetCache;
use crate::config::RepositoryConfig;
use crate::diff::{Diff, DiffBuilder};
use crate::error::{IcechunkError, Result};
use crate::format::paths;
use crate::format::snapshot::Snapshot;
use crate::format::txlog::TransactionLog;
use crate::history::{self, SnapshotInfo};
use crate::ids::{ManifestId, SnapshotId};
use crate::inspect;
use crate::refs::{self, BranchTip, KnownTip, RefOp, TipHint, TipStart, MAIN_BRANCH};
use crate::repo_info;
use crate::session::Session;
use crate::storage::{LimitedStorage, Storage};
use crate::sync::{current_runtime, lock};
use crate::virtual_chunks::{ContainerCredentials, VirtualSources};

mod expire;
mod fsck;
mod gc;
mod graph;
mod ops_log;
mod state;
mod stats;

pub use expire::ExpiryReport;
pub use fsck::{FsckOptions, FsckProblem, FsckProgress, FsckReport};
pub use gc::{GcOptions, GcProgress, GcProgressFn, GcSummary};
pub use ops_log::{Operation, OperationKind};
pub use stats::{ChunkStorageStats, ManifestFileInfo};

pub const INITIAL_COMMIT_MESSAGE: &str = "Repository initialized";

/// Which version to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionInfo {
    BranchTip(String),
    Tag(String),
    Snapshot(SnapshotId),
    /// The newest snapshot in the branch's ancestry written at or before `at`.
    AsOf {
        branch: String,
        at: DateTime<Utc>,
    },
}

struct Inner {
    /// The store as given, for `reopen` (which limits it anew).
    base_storage: Arc<dyn Storage>,
    /// The store behind this repository's limit on requests in flight.
    storage: Arc<dyn Storage>,
    assets: Arc<AssetCache>,
    config: RepositoryConfig,
    /// The last tip this process saw of each branch: the next resolution starts there and
    /// reads one record (the next one, which must not exist) instead of the `hint` first.
    tips: Mutex<HashMap<String, TipHint>>,
    /// Merged under the metadata of every commit of sessions opened from now on (this
    /// process only; a commit's own keys win).
    default_commit_metadata: Mutex<JsonMap>,
    /// The config's virtual chunk containers with the authorizations this handle was given.
    virtual_sources: Arc<VirtualSources>,
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

#[derive(Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.inner.storage.location())
    }
}

async fn read_config(storage: &dyn Storage) -> Result<Option<RepositoryConfig>> {
    let Some(stored) = storage.get(paths::CONFIG).await? else { return Ok(None) };
    Ok(Some(RepositoryConfig::decode(&stored)?))
}

impl Repository {
    fn from_parts(
        base_storage: Arc<dyn Storage>,
        config: RepositoryConfig,
        authorized: BTreeMap<String, ContainerCredentials>,
    ) -> Result<Self> {
        let storage: Arc<dyn Storage> =
            Arc::new(LimitedStorage::new(base_storage.clone(), config.max_concurrent_requests as usize));
        let assets = Arc::new(AssetCache::new(storage.clone(), config.clone()));
        let virtual_sources = Arc::new(VirtualSources::new(
            config.virtual_chunk_containers.clone(),
            authorized,
            config.max_concurrent_requests as usize,
        )?);
        let inner = Inner {
            base_storage,
            storage,
            assets,
            config,
            tips: Default::default(),
            default_commit_metadata: Default::default(),
            virtual_sources,
        };
        Ok(Repository { inner: Arc::new(inner) })
    }

    /// The same repository, authorized to read the virtual chunks of the containers named
    /// by url prefix in `authorized`, with the credentials given for each (replacing any
    /// earlier authorizations). A new handle, as [`Self::reopen`] gives; credentials of the
    /// wrong kind for their container's store are refused.
    pub fn with_virtual_access(&self, authorized: BTreeMap<String, ContainerCredentials>) -> Result<Self> {
        self.reopen_with(None, authorized)
    }

    /// The url prefixes of the containers this handle may read virtual chunks from.
    pub fn authorized_prefixes(&self) -> BTreeSet<String> {
        self.inner.virtual_sources.authorized_prefixes()
    }

    /// The containers of this repository's config plus the authorizations it was opened with.
    pub fn virtual_sources(&self) -> &Arc<VirtualSources> {
        &self.inner.virtual_sources
    }

    /// Whether both are the same handle (clones of one repository opened once).
    #[cfg(test)]
    pub(crate) fn same_handle(&self, other: &Repository) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn known_tip(&self, branch: &str) -> Option<TipHint> {
        lock(&self.inner.tips).get(branch).cloned()
    }

    fn remember_tip(&self, branch: &str, hint: TipHint) {
        let mut tips = lock(&self.inner.tips);
        // Never step back: a concurrent resolution may have seen a newer record already.
        if tips.get(branch).is_none_or(|known| known.seq <= hint.seq) {
            tips.insert(branch.to_string(), hint);
        }
    }

    /// The tip of `branch`, fetching the snapshot the starting hint names while the tip is
    /// checked (usually it is the tip's: then the session opens without another round trip).
    pub(crate) async fn branch_tip(&self, branch: &str) -> Result<Option<BranchTip>> {
        refs::validate_ref_name(branch)?;
        let start = match self.known_tip(branch) {
            Some(known) => TipStart::Remembered(known),
            None => TipStart::Hint(refs::read_hint(self.storage().as_ref(), branch).await?),
        };
        let prefetch = match &start {
            TipStart::Remembered(hint) | TipStart::Hint(Some(hint)) => hint.snapshot,
            _ => None,
        };
        let (tip, _) = futures::join!(refs::branch_tip(self.storage().as_ref(), branch, start), async {
            if let Some(id) = prefetch {
                // Only a guess: an error here is the resolution's business, if at all.
                let _ = self.assets().snapshot(&id).await;
            }
        });
        let tip = tip?;
        if let Some(tip) = &tip {
            self.remember_tip(branch, tip.as_hint());
        }
        Ok(tip)
    }

    /// Moves `branch` (see [`refs::move_branch`]), starting from the tip this process knows.
    pub(crate) async fn move_branch<F>(
        &self,
        branch: &str,
        target: Option<SnapshotId>,
        op: RefOp,
        precondition: F,
    ) -> Result<()>
    where
        F: Fn(Option<SnapshotId>) -> Result<()>,
    {
        let start = match self.known_tip(branch) {
            Some(TipHint { seq, record: Some(record), .. }) => KnownTip::Seen(BranchTip { seq, record }),
            _ => KnownTip::Unknown,
        };
        self.move_branch_from(branch, target, op, start, precondition).await
    }

    async fn move_branch_from<F>(
        &self,
        branch: &str,
        target: Option<SnapshotId>,
        op: RefOp,
        start: KnownTip,
        precondition: F,
    ) -> Result<()>
    where
        F: Fn(Option<SnapshotId>) -> Result<()>,
    {
        let runtime = current_runtime()?;
        let tip =
            refs::move_branch(self.storage(), branch, target, op, start, precondition, &runtime).await?;
        self.remember_tip(branch, tip.as_hint());
        Ok(())
    }

    /// Creates a repository in an empty location, with an initial empty snapshot on `main`.
    pub async fn create(storage: Arc<dyn Storage>, config: Option<RepositoryConfig>) -> Result<Self> {
        let config = config.unwrap_or_default();
        config.validate()?;
        let location = storage.location();
        let list_all = async {
            // A store that cannot list (HTTP) cannot be written either: the create below fails.
            if storage.can_list() {
                storage.list("").await
            } else {
                Ok(Vec::new())
            }
        };
        let (existing, listed, ()) =
            futures::try_join!(read_config(storage.as_ref()), list_all, storage.check_conditional_writes())?;
        if existing.is_some() {
            return Err(IcechunkError::RepositoryAlreadyExists { location });
        }
        if !listed.is_empty() {
            return Err(IcechunkError::LocationNotEmpty { location });
        }
        // The config decides the race between two creators: only one creates it.
        if !storage.put_if_absent(paths::CONFIG, config.encode()?).await? {
            return Err(IcechunkError::RepositoryAlreadyExists { location });
        }
        let repo = Self::from_parts(storage, config, BTreeMap::new())?;
        let initial = Snapshot {
            id: SnapshotId::random(),
            parent_id: None,
            flushed_at: Utc::now().timestamp_micros().max(0) as u64,
            message: INITIAL_COMMIT_MESSAGE.to_string(),
            metadata: Default::default(),
            nodes: Default::default(),
            ancestors: Vec::new(),
        };
        let id = initial.id;
        let assets = repo.assets();
        futures::try_join!(
            assets.write_transaction_log(id, TransactionLog::default()),
            assets.write_snapshot(initial)
        )?;
        // No branch can have a record yet (the location was empty and the config is ours):
        // record 1 of main is written without looking for a tip, three round trips fewer.
        repo.move_branch_from(MAIN_BRANCH, Some(id), RefOp::Create, KnownTip::NoRecord, |current| {
            match current {
                None => Ok(()),
                Some(_) => Err(IcechunkError::RefAlreadyExists { kind: "branch", name: MAIN_BRANCH.into() }),
            }
        })
        .await?;
        Ok(repo)
    }

    /// Opens an existing repository. `config` overrides the stored one for this process.
    ///
    /// Four things happen at once: the config is read with the newest repository record
    /// (a config saved with `save_config` wins over the one stored at creation), the `main`
    /// hint is fetched (most sessions read `main`; a hint is never trusted, so an early one is
    /// harmless), and a store that cannot create-if-absent is refused (see
    /// [`Storage::check_conditional_writes`]).
    pub async fn open(storage: Arc<dyn Storage>, config: Option<RepositoryConfig>) -> Result<Self> {
        let (stored, main_hint, ()) = futures::try_join!(
            Self::fetch_config(storage.clone()),
            refs::read_hint(storage.as_ref(), MAIN_BRANCH),
            storage.check_conditional_writes(),
        )?;
        let stored =
            stored.ok_or_else(|| IcechunkError::RepositoryNotFound { location: storage.location() })?;
        let config = config.unwrap_or(stored);
        config.validate()?;
        let repo = Self::from_parts(storage, config, BTreeMap::new())?;
        if let Some(hint) = main_hint {
            repo.remember_tip(MAIN_BRANCH, hint);
        }
        Ok(repo)
    }

    pub async fn open_or_create(storage: Arc<dyn Storage>, config: Option<RepositoryConfig>) -> Result<Self> {
        if Self::exists(storage.clone()).await? {
            Self::open(storage, config).await
        } else {
            match Self::create(storage.clone(), config.clone()).await {
                // Someone else created it meanwhile.
                Err(IcechunkError::RepositoryAlreadyExists { .. }) => Self::open(storage, config).await,
                other => other,
            }
        }
    }

    pub async fn exists(storage: Arc<dyn Storage>) -> Result<bool> {
        Ok(storage.get(paths::CONFIG).await?.is_some())
    }

    /// Metadata merged under every commit's own in sessions opened after this call.
    pub fn set_default_commit_metadata(&self, metadata: JsonMap) {
        *lock(&self.inner.default_commit_metadata) = metadata;
    }

    pub fn default_commit_metadata(&self) -> JsonMap {
        lock(&self.inner.default_commit_metadata).clone()
    }

    pub fn config(&self) -> &RepositoryConfig {
        &self.inner.config
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    pub(crate) fn assets(&self) -> &Arc<AssetCache> {
        &self.inner.assets
    }

    // ------------------------------------------------------------------ branches

    pub async fn create_branch(&self, name: &str, snapshot: &SnapshotId) -> Result<()> {
        refs::validate_ref_name(name)?;
        futures::try_join!(self.assets().snapshot(snapshot), self.check_writable("cannot create a branch"))?;
        self.move_branch(name, Some(*snapshot), RefOp::Create, |current| match current {
            None => Ok(()),
            Some(_) => Err(IcechunkError::RefAlreadyExists { kind: "branch", name: name.to_string() }),
        })
        .await
    }

    pub async fn list_branches(&self) -> Result<BTreeSet<String>> {
        refs::list_branches(self.storage().as_ref()).await
    }

    pub async fn lookup_branch(&self, name: &str) -> Result<SnapshotId> {
        let tip = self.branch_tip(name).await?;
        refs::tip_snapshot(name, tip.as_ref())
    }

    pub async fn delete_branch(&self, name: &str) -> Result<()> {
        refs::validate_ref_name(name)?;
        if name == MAIN_BRANCH {
            // SessionState, as Icechunk: the name is valid, the operation is not allowed.
            return Err(IcechunkError::SessionState("the main branch cannot be deleted".into()));
        }
        self.check_writable("cannot delete a branch").await?;
        self.move_branch(name, None, RefOp::Delete, |current| match current {
            Some(_) => Ok(()),
            None => Err(IcechunkError::RefNotFound { kind: "branch", name: name.to_string() }),
        })
        .await
    }

    /// Points `name` at `to` (the undo). With `from`, only if the tip is still `from`.
    pub async fn reset_branch(&self, name: &str, to: &SnapshotId, from: Option<&SnapshotId>) -> Result<()> {
        refs::validate_ref_name(name)?;
        futures::try_join!(self.assets().snapshot(to), self.check_writable("cannot reset a branch"))?;
        self.move_branch(name, Some(*to), RefOp::Reset, |current| match (current, from) {
            (None, _) => Err(IcechunkError::RefNotFound { kind: "branch", name: name.to_string() }),
            (Some(current), Some(from)) if current != *from => Err(IcechunkError::Conflict {
                branch: name.to_string(),
                expected_parent: Some(*from),
                actual_parent: Some(current),
            }),
            _ => Ok(()),
        })
        .await
    }

    // ------------------------------------------------------------------ tags

    pub async fn create_tag(&self, name: &str, snapshot: &SnapshotId) -> Result<()> {
        refs::validate_ref_name(name)?;
        let allowed = async {
            let state = repo_info::current(self.storage().as_ref()).await?;
            state.check_writable("cannot create a tag")?;
            state.check_flag("create_tag")
        };
        futures::try_join!(self.assets().snapshot(snapshot), allowed)?;
        refs::create_tag(self.storage().as_ref(), name, *snapshot).await
    }

    pub async fn list_tags(&self) -> Result<BTreeSet<String>> {
        refs::list_tags(self.storage()).await
    }

    pub async fn lookup_tag(&self, name: &str) -> Result<SnapshotId> {
        refs::tag_snapshot(self.storage().as_ref(), name).await
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        refs::validate_ref_name(name)?;
        let state = repo_info::current(self.storage().as_ref()).await?;
        state.check_writable("cannot delete a tag")?;
        state.check_flag("delete_tag")?;
        refs::delete_tag(self.storage().as_ref(), name).await
    }

    // ------------------------------------------------------------------ history

    pub async fn lookup_snapshot(&self, id: &SnapshotId) -> Result<SnapshotInfo> {
        Ok(self.assets().snapshot(id).await?.summary().into())
    }

    /// The snapshot a version names; fails with a typed error if it does not exist.
    pub async fn resolve_version(&self, version: &VersionInfo) -> Result<SnapshotId> {
        match version {
            VersionInfo::BranchTip(branch) => self.lookup_branch(branch).await,
            VersionInfo::Tag(tag) => self.lookup_tag(tag).await,
            VersionInfo::Snapshot(id) => Ok(self.assets().snapshot(id).await?.id),
            VersionInfo::AsOf { branch, at } => {
                let tip = self.lookup_branch(branch).await?;
                let cuts = self.history_cuts().await?;
                let mut history = history::ancestry(self.assets().clone(), tip, current_runtime()?, cuts);
                while let Some(info) = history.try_next().await? {
                    if info.written_at <= *at {
                        return Ok(info.id);
                    }
                }
                Err(IcechunkError::SnapshotNotFound { id: format!("on branch `{branch}` as of {at}") })
            }
        }
    }

    /// The version's snapshot and its ancestors, newest first, fetched as the stream is read.
    pub async fn ancestry(&self, version: &VersionInfo) -> Result<BoxStream<'static, Result<SnapshotInfo>>> {
        let (start, cuts) = futures::try_join!(self.resolve_version(version), self.history_cuts())?;
        Ok(history::ancestry(self.assets().clone(), start, current_runtime()?, cuts))
    }

    /// What changed from `from` to `to`; `from` must be an ancestor of `to` (or equal).
    pub async fn diff(&self, from: &VersionInfo, to: &VersionInfo) -> Result<Diff> {
        let (from, to) = futures::try_join!(self.resolve_version(from), self.resolve_version(to))?;
        let cuts = self.history_cuts().await?;
        let between =
            history::commits_between(self.assets().clone(), from, to, current_runtime()?, cuts).await?;
        // Owned futures (a clone of the cache each) keep this future `Send`.
        let logs: Vec<_> = futures::stream::iter(between)
            .map(|id| {
                let assets = self.assets().clone();
                async move { assets.transaction_log(&id).await }
            })
            .buffered(16)
            .try_collect()
            .await?;
        let mut builder = DiffBuilder::default();
        for log in &logs {
            builder.apply(log);
        }
        Ok(builder.finish())
    }

    // ------------------------------------------------------------------ inspection

    /// The snapshot as a JSON document (see [`inspect`]).
    pub async fn inspect_snapshot(&self, id: &SnapshotId) -> Result<serde_json::Value> {
        Ok(inspect::snapshot(&*self.assets().snapshot(id).await?))
    }

    /// The manifest shard stored as object `manifests/<id>`, as a JSON document.
    pub async fn inspect_manifest(&self, id: &ManifestId) -> Result<serde_json::Value> {
        Ok(inspect::manifest(&inspect::manifest_object(self.assets(), id).await?))
    }

    /// The transaction log of a commit, as a JSON document.
    pub async fn inspect_transaction_log(&self, id: &SnapshotId) -> Result<serde_json::Value> {
        Ok(inspect::transaction_log(id, &*self.assets().transaction_log(id).await?))
    }

    /// The repository's config, branches and tags (with the snapshots they name) and format
    /// version, as a JSON document.
    pub async fn inspect_repo_info(&self) -> Result<serde_json::Value> {
        let (branches, tags) = futures::try_join!(self.list_branches(), self.list_tags())?;
        let tips = futures::future::try_join_all(branches.iter().map(|b| self.lookup_branch(b)));
        let targets = futures::future::try_join_all(tags.iter().map(|t| self.lookup_tag(t)));
        let (tips, targets) = futures::try_join!(tips, targets)?;
        let named =
            |names: BTreeSet<String>, ids: Vec<SnapshotId>| -> serde_json::Map<String, serde_json::Value> {
                names.into_iter().zip(ids).map(|(name, id)| (name, id.to_string().into())).collect()
            };
        Ok(serde_json::json!({
            "format_version": crate::format::header::FORMAT_VERSION,
            "config": self.config(),
            "branches": named(branches, tips),
            "tags": named(tags, targets),
        }))
    }

    // ------------------------------------------------------------------ sessions

    pub async fn readonly_session(&self, version: &VersionInfo) -> Result<Session> {
        let id = self.resolve_version(version).await?;
        let snapshot = self.assets().snapshot(&id).await?;
        let branch = match version {
            VersionInfo::BranchTip(b) => Some(b.clone()),
            _ => None,
        };
        Ok(Session::new(self.clone(), snapshot, branch, false, current_runtime()?))
    }

    pub async fn writable_session(&self, branch: &str) -> Result<Session> {
        // The session's lease (spec §13.2) is written alongside: no round trip of its own.
        let (tip, writable, lease) = futures::join!(
            self.lookup_branch(branch),
            self.check_writable("cannot open a writable session"),
            async {
                // Storage that takes no writes (HTTP) needs no lease: nothing will be written.
                if self.storage().writable() {
                    crate::session::write_lease(self, Some(branch)).await.map(Some)
                } else {
                    Ok(None)
                }
            },
        );
        let opened = async {
            let (id, ()) = (tip?, writable?);
            let snapshot = self.assets().snapshot(&id).await?;
            Ok::<_, IcechunkError>(Session::new(
                self.clone(),
                snapshot,
                Some(branch.to_string()),
                true,
                current_runtime()?,
            ))
        };
        match (opened.await, lease) {
            (Ok(session), Ok(lease)) => {
                if let Some(lease) = lease {
                    session.adopt_lease(lease);
                }
                Ok(session)
            }
            (Ok(_), Err(e)) => Err(e),
            (Err(e), lease) => {
                if let Ok(Some(lease)) = lease {
                    // A session that did not open must not hold collection back.
                    let _ = self.storage().delete(&paths::lease(&lease.id)).await;
                }
                Err(e)
            }
        }
    }

    /// Commits on `branch` (or, with `amend`, replaces its tip by) a snapshot holding the same
    /// data with every manifest shard rewritten in the block shapes the current configuration
    /// gives each array: after `manifest_shard_size` or `inline_chunk_threshold_bytes` changed,
    /// or to fold many small shard rewrites into fresh ones. The layout used is recorded in the
    /// commit's metadata (`manifest_layout`). Retried from the new tip when another commit
    /// lands meanwhile (up to `repo_update_attempts` times): the rewrite has no changes of its
    /// own that could conflict.
    pub async fn rewrite_manifests(
        &self,
        branch: &str,
        message: &str,
        metadata: JsonMap,
        amend: bool,
    ) -> Result<SnapshotId> {
        let config = self.config();
        let mut full = JsonMap::new();
        full.insert(
            "manifest_layout".into(),
            serde_json::json!({
                "manifest_shard_size": config.manifest_shard_size,
                "inline_chunk_threshold_bytes": config.inline_chunk_threshold_bytes,
            }),
        );
        full.extend(metadata);
        let mut attempt = 1;
        loop {
            let session = self.writable_session(branch).await?;
            match session.rewrite_manifests(message, Some(full.clone()), amend).await {
                Err(IcechunkError::Conflict { .. }) if attempt < config.repo_update_attempts => attempt += 1,
                done => return done,
            }
        }
    }

    /// A session on the tip of `branch` that moves (renames) nodes with `Session::move_node`
    /// and writes nothing else; its commit cannot be rebased. Refused (`SessionState`) while
    /// the feature flag `move_node` is off.
    pub async fn rearrange_session(&self, branch: &str) -> Result<Session> {
        let allowed = async {
            let state = self.state().await?;
            state.check_writable("cannot open a rearrange session")?;
            state.check_flag("move_node")
        };
        let (id, ()) = futures::try_join!(self.lookup_branch(branch), allowed)?;
        let snapshot = self.assets().snapshot(&id).await?;
        Ok(Session::new_rearrange(self.clone(), snapshot, branch.to_string(), current_runtime()?))
    }
}
