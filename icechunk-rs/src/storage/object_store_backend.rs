//! The [`Storage`] trait on any `object_store` backend.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use rand::Rng;

use super::credentials::{scrub, Secret};
use super::local_disk::LocalDisk;
use super::{ListedObject, Storage, StorageSpec};
use crate::error::{IcechunkError, Result};

/// The folder of the objects written to check that a server honours create-if-absent. Never
/// listed: the engine does not see it.
pub(crate) const PROBE_FOLDER: &str = ".icechunk-probe";

/// How create-if-absent is obtained from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateIfAbsent {
    /// The store implements it (memory, local disk, Amazon S3, R2, Tigris, GCS, Azure).
    Native,
    /// Unknown (an S3-compatible server): checked once, before the first conditional write.
    Verify,
}

/// Concurrent ranged GETs for objects larger than `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeReads {
    pub threshold: u64,
    pub part_size: u64,
    pub concurrency: usize,
}

/// How an [`ObjectStorage`] behaves beyond what its `object_store` does.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// Every write fails with `ReadOnly` (HTTP).
    pub read_only: bool,
    pub create_if_absent: CreateIfAbsent,
    /// Accept a store that fails the create-if-absent check; creates are then emulated with
    /// a HEAD and a PUT, which is only safe with one writer.
    pub unsafe_single_writer: bool,
    pub large_reads: Option<LargeReads>,
    /// Retries of a create whose outcome is unknown (timeout, connection dropped while the
    /// answer was awaited): `object_store` does not retry those, a create not being idempotent.
    pub create_retries: usize,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Replaced by `***` in every error message.
    pub secrets: Vec<Secret>,
}

impl Default for BackendSettings {
    fn default() -> Self {
        BackendSettings {
            read_only: false,
            create_if_absent: CreateIfAbsent::Native,
            unsafe_single_writer: false,
            large_reads: None,
            create_retries: 0,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            secrets: Vec::new(),
        }
    }
}

/// What the create-if-absent check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateMode {
    Native,
    /// HEAD, then PUT: racy, accepted with `unsafe_single_writer` only.
    Emulated,
}

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    spec: StorageSpec,
    location: String,
    settings: BackendSettings,
    create_mode: tokio::sync::OnceCell<CreateMode>,
    /// What identifies the server (and bucket) for the create-if-absent check.
    server: String,
    /// Reads of a local folder that skip `object_store`'s thread hand-offs.
    local_disk: Option<LocalDisk>,
}

impl fmt::Debug for ObjectStorage {
    // Not derived: the stores' own `Debug` may show their configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("location", &self.location)
            .field("spec", &self.spec)
            .field("read_only", &self.settings.read_only)
            .field("create_if_absent", &self.settings.create_if_absent)
            .field("unsafe_single_writer", &self.settings.unsafe_single_writer)
            .finish_non_exhaustive()
    }
}

impl ObjectStorage {
    /// A storage on any `object_store` (for tests and custom stores). `spec` is what
    /// [`Storage::spec`] reports, `location` what messages name.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        spec: StorageSpec,
        location: String,
        settings: BackendSettings,
    ) -> Self {
        let server = location.clone();
        ObjectStorage {
            store,
            spec,
            location,
            settings,
            create_mode: tokio::sync::OnceCell::new(),
            server,
            local_disk: None,
        }
    }

    pub fn in_memory() -> Self {
        Self::new(
            Arc::new(object_store::memory::InMemory::new()),
            StorageSpec::InMemory,
            "memory://".to_string(),
            BackendSettings::default(),
        )
    }

    pub fn local_filesystem(path: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&path).map_err(|e| {
            IcechunkError::StorageOther(format!("cannot create folder {}: {e}", path.display()))
        })?;
        let path = path.canonicalize().map_err(|e| {
            IcechunkError::StorageOther(format!("cannot resolve folder {}: {e}", path.display()))
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&path)?;
        let storage = Self::new(
            Arc::new(store),
            StorageSpec::LocalFilesystem { path: path.clone() },
            format!("file://{}", path.display()),
            BackendSettings::default(),
        );
        Ok(ObjectStorage { local_disk: Some(LocalDisk::new(path)), ..storage })
    }

    /// A read of a local folder done without `object_store` (see `local_disk`), or `None`.
    async fn read_locally(&self, path: &str, range: Option<Range<u64>>) -> Option<Option<Bytes>> {
        match &self.local_disk {
            Some(local) => local.read(path, range).await,
            None => None,
        }
    }

    fn path(path: &str) -> Result<Path> {
        Path::parse(path).map_err(|e| IcechunkError::StorageOther(format!("bad object path `{path}`: {e}")))
    }

    /// Deletes on local disk in batches (see `local_disk`), `concurrency` batches at once:
    /// unlinks in one folder take turns on its lock, but freeing the files' blocks (and the
    /// file system's journal waits) happen outside it and overlap. Names a batch cannot take
    /// go to `delete` one by one, `concurrency` at a time.
    async fn delete_on_disk(
        &self,
        disk: &LocalDisk,
        paths: Vec<String>,
        concurrency: usize,
    ) -> Vec<Result<()>> {
        const BATCH: usize = 128;
        let batches: Vec<Vec<String>> = paths.chunks(BATCH).map(<[String]>::to_vec).collect();
        let done: Vec<Option<std::result::Result<(), String>>> =
            futures::stream::iter(batches.into_iter().map(|batch| disk.delete_batch(batch)))
                .buffered(concurrency.max(1))
                .flat_map(futures::stream::iter)
                .collect()
                .await;
        let results = paths.into_iter().zip(done).map(|(path, done)| async move {
            match done {
                Some(result) => result.map_err(IcechunkError::StorageOther),
                None => self.delete(&path).await,
            }
        });
        futures::stream::iter(results).buffered(concurrency.max(1)).collect().await
    }

    /// Deletes through `object_store`'s bulk deletes (S3: 1,000 keys a request; other stores
    /// delete one by one there). A path the store did not report deleted gets the first
    /// error it reported (a bulk request's failure names no single object).
    async fn delete_in_bulk(&self, paths: Vec<String>) -> Vec<Result<()>> {
        let mut parsed = Vec::with_capacity(paths.len());
        for path in &paths {
            parsed.push(Self::path(path));
        }
        let valid: Vec<Path> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let mut deleted = std::collections::HashSet::new();
        let mut failure: Option<String> = None;
        let mut outcomes = self.store.delete_stream(futures::stream::iter(valid.into_iter().map(Ok)).boxed());
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Ok(path) => {
                    deleted.insert(path.to_string());
                }
                Err(object_store::Error::NotFound { path, .. }) => {
                    deleted.insert(path);
                }
                Err(e) => {
                    failure.get_or_insert_with(|| self.error(e).to_string());
                }
            }
        }
        parsed
            .into_iter()
            .map(|path| {
                let path = path?;
                if deleted.contains(path.as_ref()) {
                    Ok(())
                } else {
                    let why = failure.clone().unwrap_or_else(|| "not deleted".to_string());
                    Err(IcechunkError::StorageOther(format!("cannot delete {path}: {why}")))
                }
            })
            .collect()
    }

    /// A storage error, with every credential replaced by `***`.
    fn error(&self, e: object_store::Error) -> IcechunkError {
        if self.settings.secrets.is_empty() {
            return e.into();
        }
        let (display, debug) = (e.to_string(), format!("{e:?}"));
        let leaks =
            self.settings.secrets.iter().any(|s| {
                !s.expose().is_empty() && (display.contains(s.expose()) || debug.contains(s.expose()))
            });
        if leaks {
            IcechunkError::StorageOther(scrub(&display, &self.settings.secrets))
        } else {
            e.into()
        }
    }

    fn not_found_to_none<T>(&self, result: object_store::Result<T>) -> Result<Option<T>> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.settings.read_only {
            Err(IcechunkError::ReadOnlyStorage { location: self.location.clone() })
        } else {
            Ok(())
        }
    }

    /// How creates are done, checking the server first where that is unknown. A server's
    /// answer is remembered for the life of the process, so that opening many repositories
    /// on one server checks it once.
    async fn create_mode(&self) -> Result<CreateMode> {
        if self.settings.create_if_absent == CreateIfAbsent::Native {
            return Ok(CreateMode::Native);
        }
        let mode = self
            .create_mode
            .get_or_try_init(|| async {
                let honoured = match checked_servers().get(&self.server) {
                    Some(honoured) => honoured,
                    None => {
                        let honoured = self.honours_create_if_absent().await?;
                        checked_servers().insert(self.server.clone(), honoured);
                        honoured
                    }
                };
                if honoured {
                    Ok(CreateMode::Native)
                } else if self.settings.unsafe_single_writer {
                    tracing::warn!(
                        location = %self.location,
                        "the object store does not honour create-if-absent; unsafe_single_writer: \
                         creates are emulated, concurrent writers could overwrite each other's commits"
                    );
                    Ok(CreateMode::Emulated)
                } else {
                    Err(IcechunkError::UnsafeStorage {
                        location: self.location.clone(),
                        reason: "it does not honour create-if-absent (a PUT with `If-None-Match: *` \
                                 replaced an existing object), which the commit protocol needs so \
                                 that concurrent commits cannot overwrite each other. Use a server \
                                 that supports conditional writes (e.g. MinIO from 2024-11 on), or, \
                                 if only one process ever writes to this repository, set \
                                 unsafe_single_writer"
                            .into(),
                    })
                }
            })
            .await?;
        Ok(*mode)
    }

    /// Creates one probe object twice at once (one round trip): a server that honours
    /// create-if-absent refuses at least one of them. (Both may be refused: S3 can answer 409
    /// to racing creates, and a create retried after a lost answer finds the object there.
    /// Only a server that checks refuses.) If both were accepted, the server may ignore the
    /// condition, or only have let a near-simultaneous pair slip through (moto does): a second
    /// probe, one create after the other, decides.
    async fn honours_create_if_absent(&self) -> Result<bool> {
        let probe = || Path::from(format!("{PROBE_FOLDER}/{:016x}", rand::rng().random::<u64>()));
        let create = |path: Path, body: &'static [u8]| {
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            let store = self.store.clone();
            async move { probe_outcome(store.put_opts(&path, PutPayload::from_static(body), opts).await) }
        };
        let at_once = probe();
        let (first, second) =
            futures::join!(create(at_once.clone(), b"first"), create(at_once.clone(), b"second"));
        let mut probes = vec![at_once];
        let honoured = match [first, second] {
            [Ok(ProbeOutcome::Unsupported), _] | [_, Ok(ProbeOutcome::Unsupported)] => false,
            [Ok(ProbeOutcome::Refused), _] | [_, Ok(ProbeOutcome::Refused)] => true,
            [Err(e), _] | [_, Err(e)] => return Err(self.error(e)),
            [Ok(ProbeOutcome::Created), Ok(ProbeOutcome::Created)] => {
                let in_turn = probe();
                probes.push(in_turn.clone());
                match create(in_turn.clone(), b"first").await {
                    Ok(ProbeOutcome::Created) => {}
                    Ok(_) => return Ok(false),
                    Err(e) => return Err(self.error(e)),
                }
                match create(in_turn, b"second").await {
                    Ok(outcome) => outcome == ProbeOutcome::Refused,
                    Err(e) => return Err(self.error(e)),
                }
            }
        };
        // Best effort (a leftover probe is invisible to the engine); off the critical path
        // when the store passed, since opening goes on.
        let store = self.store.clone();
        let delete = async move {
            for path in probes {
                let _ = store.delete(&path).await;
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if honoured => drop(runtime.spawn(delete)),
            _ => delete.await,
        }
        tracing::debug!(location = %self.location, honoured, "checked create-if-absent");
        Ok(honoured)
    }

    async fn create_native(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        let mut attempt = 0;
        loop {
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            let e = match self.store.put_opts(path, PutPayload::from_bytes(bytes.clone()), opts).await {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            let retryable = match &e {
                // S3 answers 409 ConditionalRequestConflict while a conflicting write to the key
                // is in flight; the key may still end up absent: try again.
                object_store::Error::AlreadyExists { .. } if is_s3_conditional_conflict(&e) => true,
                // A 412 (or 304) on S3, generation mismatch on GCS, 409/412 on Azure. Also the
                // answer to a retry whose first attempt landed: the refs layer then finds its
                // own `write_id` in the object.
                object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                    return Ok(false)
                }
                e => outcome_unknown(e),
            };
            if !retryable || attempt >= self.settings.create_retries {
                return Err(self.error(e));
            }
            let sleep = backoff(attempt, self.settings.initial_backoff, self.settings.max_backoff);
            tracing::info!(path = %path, attempt, ?sleep, "retrying a create whose outcome is unknown");
            tokio::time::sleep(sleep).await;
            attempt += 1;
        }
    }

    async fn create_emulated(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        if self.not_found_to_none(self.store.head(path).await)?.is_some() {
            return Ok(false);
        }
        self.store.put(path, PutPayload::from_bytes(bytes)).await.map_err(|e| self.error(e))?;
        Ok(true)
    }

    async fn get_part(&self, path: &Path, range: Range<u64>, e_tag: Option<String>) -> Result<Bytes> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match: e_tag,
            ..Default::default()
        };
        let result = self.store.get_opts(path, opts).await.map_err(|e| self.error(e))?;
        let bytes = result.bytes().await.map_err(|e| self.error(e))?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(IcechunkError::StorageOther(format!(
                "object `{path}` at {}: asked for bytes {range:?}, got {} bytes",
                self.location,
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// `range` of `path` as concurrent ranged GETs of `part_size` bytes.
    async fn get_parts(
        &self,
        path: &Path,
        range: Range<u64>,
        reads: LargeReads,
        e_tag: Option<String>,
    ) -> Result<Vec<Bytes>> {
        let part = reads.part_size.max(1);
        let ranges: Vec<_> = (range.start..range.end)
            .step_by(part as usize)
            .map(|start| start..(start + part).min(range.end))
            .collect();
        futures::stream::iter(ranges)
            .map(|r| self.get_part(path, r, e_tag.clone()))
            .buffered(reads.concurrency.max(1))
            .try_collect()
            .await
    }
}

/// What a conditional ranged read ([`ObjectStorage::get_range_if`]) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionalRead {
    /// The bytes of the range, fewer than asked for if the object ends inside it.
    Read(Bytes),
    /// The object changed: it fails the `If-Match` / `If-Unmodified-Since` condition.
    Changed,
    /// There is no such object.
    Missing,
    /// The object ends at `size`, before the range starts.
    StartsPastEnd { size: u64 },
}

impl ObjectStorage {
    /// Bytes `range` of `path`, only from the version of the object that still has the ETag
    /// `if_match` and was not modified after `if_unmodified_since` (each when given). For
    /// reading other people's objects (virtual chunks): a changed, missing or too short
    /// object is an answer, not an error; other failures are errors, scrubbed of secrets.
    pub async fn get_range_if(
        &self,
        path: &str,
        range: Range<u64>,
        if_match: Option<String>,
        if_unmodified_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<ConditionalRead> {
        let path = Self::path(path)?;
        if range.is_empty() {
            return Ok(ConditionalRead::Read(Bytes::new()));
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match,
            if_unmodified_since,
            ..Default::default()
        };
        let result = match self.store.get_opts(&path, opts).await {
            Ok(result) => result,
            Err(e) => return self.conditional_failure(&path, range.start, e).await,
        };
        match result.bytes().await {
            Ok(bytes) => Ok(ConditionalRead::Read(bytes)),
            Err(e) => self.conditional_failure(&path, range.start, e).await,
        }
    }

    async fn conditional_failure(
        &self,
        path: &Path,
        start: u64,
        e: object_store::Error,
    ) -> Result<ConditionalRead> {
        match e {
            object_store::Error::NotFound { .. } => Ok(ConditionalRead::Missing),
            // S3 and HTTP answer 412; `object_store` checks local files itself. A 304 only
            // answers `If-None-Match`/`If-Modified-Since`, never sent here, but means the same.
            object_store::Error::Precondition { .. } | object_store::Error::NotModified { .. } => {
                Ok(ConditionalRead::Changed)
            }
            // A range past the end is refused (416, or a local range error), with no size in
            // a form every store shares: ask for it.
            e => match self.store.head(path).await {
                Ok(meta) if meta.size <= start => Ok(ConditionalRead::StartsPastEnd { size: meta.size }),
                Ok(_) => Err(self.error(e)),
                Err(object_store::Error::NotFound { .. }) => Ok(ConditionalRead::Missing),
                Err(_) => Err(self.error(e)),
            },
        }
    }
}

fn concat(parts: impl IntoIterator<Item = Bytes>, len: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(len as usize);
    for part in parts {
        out.extend_from_slice(&part);
    }
    out.freeze()
}

/// An error after which the request may or may not have been applied, and that
/// `object_store` does not retry for non-idempotent requests: a timeout, or the connection
/// closed while the answer was awaited.
fn outcome_unknown(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return matches!(http.kind(), HttpErrorKind::Timeout | HttpErrorKind::Interrupted);
        }
        source = err.source();
    }
    false
}

fn is_s3_conditional_conflict(e: &object_store::Error) -> bool {
    e.to_string().contains("ConditionalRequestConflict")
}

/// Exponential backoff with full jitter.
fn backoff(attempt: usize, initial: Duration, max: Duration) -> Duration {
    let cap = initial.saturating_mul(1u32 << attempt.min(16) as u32).min(max).max(initial);
    let millis = cap.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

#[derive(Debug, PartialEq, Eq)]
enum ProbeOutcome {
    Created,
    Refused,
    Unsupported,
}

fn probe_outcome<T>(result: object_store::Result<T>) -> object_store::Result<ProbeOutcome> {
    match result {
        Ok(_) => Ok(ProbeOutcome::Created),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Ok(ProbeOutcome::Refused)
        }
        Err(object_store::Error::NotImplemented { .. }) => Ok(ProbeOutcome::Unsupported),
        Err(e) => Err(e),
    }
}

/// Servers (endpoint and bucket) already checked for create-if-absent by this process.
fn checked_servers() -> &'static quick_cache::sync::Cache<String, bool> {
    static CHECKED: std::sync::OnceLock<quick_cache::sync::Cache<String, bool>> = std::sync::OnceLock::new();
    CHECKED.get_or_init(|| quick_cache::sync::Cache::new(1024))
}

fn is_probe(path: &str) -> bool {
    path == PROBE_FOLDER || path.starts_with(&format!("{PROBE_FOLDER}/"))
}

#[async_trait]
impl Storage for ObjectStorage {
    fn spec(&self) -> StorageSpec {
        self.spec.clone()
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        if let Some(read) = self.read_locally(path, None).await {
            return Ok(read);
        }
        let path = Self::path(path)?;
        let Some(result) = self.not_found_to_none(self.store.get(&path).await)? else {
            return Ok(None);
        };
        let size = result.meta.size;
        let reads = match self.settings.large_reads {
            Some(reads) if size > reads.threshold && size > reads.part_size && result.range == (0..size) => {
                reads
            }
            _ => return self.not_found_to_none(result.bytes().await),
        };
        // A large object: the first part comes from this response, the others from
        // concurrent ranged GETs of the same version.
        let e_tag = result.meta.e_tag.clone();
        let part = reads.part_size;
        let first = async {
            let mut stream = result.into_stream();
            let mut head = BytesMut::with_capacity(part as usize);
            while (head.len() as u64) < part {
                match stream.try_next().await.map_err(|e| self.error(e))? {
                    Some(bytes) => head.extend_from_slice(&bytes),
                    None => break,
                }
            }
            // Dropping the stream closes this response; the rest comes in parts.
            head.truncate(part as usize);
            Ok::<_, IcechunkError>(head.freeze())
        };
        let rest = self.get_parts(&path, part..size, reads, e_tag);
        let (first, rest) = futures::try_join!(first, rest)?;
        if first.len() as u64 != part {
            return Err(IcechunkError::StorageOther(format!(
                "object `{path}` at {} ended after {} of {size} bytes",
                self.location,
                first.len()
            )));
        }
        Ok(Some(concat(std::iter::once(first).chain(rest), size)))
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        if let Some(read) = self.read_locally(path, Some(range.clone())).await {
            return Ok(read);
        }
        let path = Self::path(path)?;
        match self.settings.large_reads {
            Some(reads) if range.end.saturating_sub(range.start) > reads.threshold => {
                let len = range.end - range.start;
                match self.get_parts(&path, range, reads, None).await {
                    Ok(parts) => Ok(Some(concat(parts, len))),
                    Err(IcechunkError::Storage(object_store::Error::NotFound { .. })) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            _ => self.not_found_to_none(self.store.get_range(&path, range).await),
        }
    }

    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        self.check_writable()?;
        let path = Self::path(path)?;
        self.store.put(&path, PutPayload::from_bytes(bytes)).await.map_err(|e| self.error(e))?;
        Ok(())
    }

    /// On local disk the file is written in place (see `local_disk`); elsewhere a PUT.
    async fn put_new(&self, path: &str, bytes: Bytes) -> Result<()> {
        self.check_writable()?;
        if let Some(disk) = &self.local_disk {
            if let Some(written) = disk.write_new(path, bytes.clone()).await {
                return written;
            }
        }
        self.put(path, bytes).await
    }

    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        self.check_writable()?;
        let path = Self::path(path)?;
        match self.create_mode().await? {
            CreateMode::Native => self.create_native(&path, bytes).await,
            CreateMode::Emulated => self.create_emulated(&path, bytes).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        let prefix_path = Self::path(prefix.trim_end_matches('/'))?;
        let strip = if prefix_path.as_ref().is_empty() { String::new() } else { format!("{prefix_path}/") };
        let listed: Vec<_> =
            self.store.list(Some(&prefix_path)).try_collect().await.map_err(|e| self.error(e))?;
        Ok(listed
            .into_iter()
            .filter(|meta| !is_probe(meta.location.as_ref()))
            .filter_map(|meta| {
                let full = meta.location.to_string();
                full.strip_prefix(&strip).map(|p| ListedObject {
                    path: p.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified,
                })
            })
            .collect())
    }

    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix_path = Self::path(prefix.trim_end_matches('/'))?;
        let listed = self.store.list_with_delimiter(Some(&prefix_path)).await.map_err(|e| self.error(e))?;
        Ok(listed
            .common_prefixes
            .into_iter()
            .filter(|p| !is_probe(p.as_ref()))
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.check_writable()?;
        let path = Self::path(path)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn list_paths(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        Ok(match &self.local_disk {
            Some(disk) => disk.list_paths(prefix).await?,
            None => None,
        })
    }

    async fn describe(&self, prefix: &str, paths: Vec<String>) -> Result<Vec<ListedObject>> {
        match &self.local_disk {
            Some(disk) => disk.describe(prefix, paths).await,
            None => Err(IcechunkError::StorageOther(format!("{}: cannot describe objects", self.location))),
        }
    }

    async fn delete_many(&self, paths: Vec<String>, concurrency: usize) -> Vec<Result<()>> {
        if self.check_writable().is_err() {
            return paths.iter().map(|_| self.check_writable()).collect();
        }
        match &self.local_disk {
            Some(disk) => self.delete_on_disk(disk, paths, concurrency).await,
            None => self.delete_in_bulk(paths).await,
        }
    }

    fn writable(&self) -> bool {
        !self.settings.read_only
    }

    fn timestamp_slack(&self) -> std::time::Duration {
        match self.spec {
            // File modification times and memory timestamps are exact.
            StorageSpec::LocalFilesystem { .. } | StorageSpec::InMemory => std::time::Duration::ZERO,
            _ => std::time::Duration::from_secs(2),
        }
    }

    fn can_list(&self) -> bool {
        // Listing over HTTP needs WebDAV, which static file servers and public buckets lack.
        !matches!(self.spec, StorageSpec::Http(_))
    }

    async fn check_conditional_writes(&self) -> Result<()> {
        if self.settings.read_only {
            return Ok(());
        }
        match self.create_mode().await {
            Ok(_) => Ok(()),
            Err(e @ IcechunkError::UnsafeStorage { .. }) => Err(e),
            // E.g. read-only credentials: nothing can be written, so nothing is at risk;
            // the first write checks again.
            Err(e) => {
                tracing::debug!(location = %self.location, error = %e, "could not check create-if-absent");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
