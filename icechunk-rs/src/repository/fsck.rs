//! An integrity check for operators (`Repository::fsck`): every object that a ref reaches is
//! read and verified, and what is missing or damaged is reported instead of failing the
//! check.
//!
//! What is checked, in this order:
//!
//! 1. the repository's own objects: `config.json` (when present) and every `repo/<seq>`
//!    record decode; the newest record that decodes gives the history cuts (§13.1);
//! 2. every ref object (`refs/branch.*/<seq>`, `refs/tag.*/ref`, `refs/tag.*/deleted`)
//!    decodes; each live branch's tip is resolved (§8.2);
//! 3. the history of each live branch and tag, with the cuts applied as every reader applies
//!    them, so expired snapshots are never visited: each snapshot once, verified (§4.1);
//! 4. the transaction log of each snapshot (required for every snapshot with a parent, §4.1:
//!    the first snapshot of a repository needs none, §7);
//! 5. each manifest shard stored as an object, once however many snapshots share it (inline
//!    shards are decoded with their snapshot);
//! 6. each chunk object, read once however many references name it: every reference's bytes
//!    against its checksum, and its block checksum table when it has one (§6.4). Inline
//!    chunks are checked against their checksums with their shard; virtual chunks live
//!    outside the repository and are only counted.
//!
//! Everything is read straight from storage and decoded here, never through the repository's
//! cache: a decoded copy in memory would hide damage to the stored object, and a check of a
//! whole repository must not push readers' entries out of the cache.
//!
//! Memory: ids, and per chunk object the references to verify (~70 bytes), not object bytes
//! beyond the reads in flight (at most `concurrency` objects, and at most
//! `CHUNK_BYTES_IN_FLIGHT` of chunk objects).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::Repository;
use crate::config::RepositoryConfig;
use crate::error::{ErrorKind, IcechunkError, Result};
use crate::format::chunk::{self, BlockTable};
use crate::format::header::{HEADER_LEN, MAGIC};
use crate::format::manifest::{ChunkLocation, ManifestShard};
use crate::format::paths;
use crate::format::snapshot::{NodeKind, Snapshot};
use crate::format::txlog::TransactionLog;
use crate::ids::{ChunkId, ManifestId, NodeId, SnapshotId};
use crate::refs::{self, RefRecord, TipHint, TipStart, MAIN_BRANCH};
use crate::repo_info::RepoRecord;
use crate::storage::Storage;

/// Bytes of chunk objects held in memory at once, so that many large chunks read
/// concurrently cannot exhaust memory (an object larger than this is read alone).
const CHUNK_BYTES_IN_FLIGHT: u64 = 512 << 20;

/// How to check.
#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Objects read at once.
    pub concurrency: usize,
}

impl Default for FsckOptions {
    fn default() -> Self {
        FsckOptions { concurrency: 32 }
    }
}

/// Where a check is: the phase ("repository", "refs", "snapshots", "transaction_logs",
/// "manifests", "chunks") and the objects of that phase checked so far, out of `total`
/// (0 while the total is not known: snapshots are found as history is walked).
#[derive(Debug, Clone, Copy)]
pub struct FsckProgress {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
}

/// What a check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    /// Live branches and tags whose history was walked.
    pub refs_checked: u64,
    /// Snapshots read (missing ones included).
    pub snapshots_checked: u64,
    /// Transaction logs read, and required ones found missing.
    pub transaction_logs_checked: u64,
    /// Manifest shards stored as objects of their own (inline shards are part of their
    /// snapshot).
    pub manifests_checked: u64,
    /// Chunk objects read (missing ones included).
    pub chunk_objects_checked: u64,
    /// Chunk references whose bytes were verified: inline ones with their shard, those of
    /// chunk objects against the object (a reference repeated unchanged in several shards
    /// counts once).
    pub chunk_refs_checked: u64,
    /// References to chunks outside the repository (virtual chunks), not read.
    pub virtual_refs_not_checked: u64,
    /// Bytes of the objects checked.
    pub bytes_read: u64,
    /// Sorted by object path.
    pub problems: Vec<FsckProblem>,
}

impl FsckReport {
    /// Whether nothing is missing or damaged.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One missing or damaged object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct FsckProblem {
    /// The object's path relative to the repository root, e.g. `chunks/4KQ…`.
    pub object: String,
    /// One line: `missing`, `checksum mismatch: …`, `does not decode: …`, `wrong id: …`,
    /// `truncated: …` or `inconsistent: …`.
    pub problem: String,
    /// The first ref the object was found from (`branch main`, `tag v1`), or `repository`
    /// for the repository's own records.
    pub reachable_from: String,
}

impl Repository {
    /// Reads and verifies every object reachable from every branch and tag (see the module
    /// documentation). Missing and damaged objects are reported as problems; an error means
    /// the check could not run (the repository cannot be listed, a storage request failed).
    pub async fn fsck(
        &self,
        options: &FsckOptions,
        progress: Option<&(dyn Fn(FsckProgress) + Send + Sync)>,
    ) -> Result<FsckReport> {
        let mut check = Check::new(self.storage().as_ref(), options.concurrency.max(1), progress);
        check.repository_records().await?;
        let tips = check.refs().await?;
        check.report.refs_checked = tips.len() as u64;
        check.phase("snapshots", 0, 0);
        for (origin, tip) in tips {
            check.walk(origin, tip).await?;
        }
        check.transaction_logs().await?;
        check.manifests().await?;
        check.chunks().await?;
        Ok(check.finish())
    }
}

/// What `reachable_from` names: an index into [`Check::origins`].
type Origin = u32;
/// The repository's own records.
const REPOSITORY: Origin = 0;

/// A shard stored as an object, as the first snapshot that named it describes it.
struct ShardSource {
    node: NodeId,
    node_path: String,
    block: Vec<u32>,
    chunk_count: u64,
    total_bytes: u64,
    origin: Origin,
}

/// One reference's claim on a chunk object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChunkClaim {
    offset: u64,
    length: u64,
    checksum: u32,
    block_size_log2: u8,
}

/// The references to one chunk object: nearly always exactly one distinct claim (writers store
/// one chunk per object), kept without an allocation of its own.
struct ChunkObject {
    origin: Origin,
    first: ChunkClaim,
    more: Vec<ChunkClaim>,
}

impl ChunkObject {
    fn claims(&self) -> impl Iterator<Item = &ChunkClaim> {
        std::iter::once(&self.first).chain(&self.more)
    }
}

/// A snapshot's place in history: the ancestor summaries it carries (id, parent) and its
/// parent, which is all the walk needs once the snapshot itself is checked.
struct Lineage {
    ancestors: Vec<(SnapshotId, Option<SnapshotId>)>,
    parent: Option<SnapshotId>,
}

struct Check<'a> {
    storage: &'a dyn Storage,
    concurrency: usize,
    progress: Option<&'a (dyn Fn(FsckProgress) + Send + Sync)>,
    report: FsckReport,
    problems: Vec<FsckProblem>,
    /// Objects with a problem already: a second, differently worded report of the same
    /// damage (a ref record decoded twice) is left out.
    damaged: HashSet<String>,
    /// `reachable_from` labels: "repository", then "branch main", "tag v1", ...
    origins: Vec<String>,
    cuts: HashMap<SnapshotId, SnapshotId>,
    /// Snapshots walked or about to be: each is read once.
    seen: HashSet<SnapshotId>,
    /// Snapshots whose transaction log to read, and whether the format requires one.
    logs: Vec<(SnapshotId, bool, Origin)>,
    shards: HashMap<ManifestId, ShardSource>,
    inline_shards: HashSet<ManifestId>,
    chunks: HashMap<ChunkId, ChunkObject>,
}

impl<'a> Check<'a> {
    fn new(
        storage: &'a dyn Storage,
        concurrency: usize,
        progress: Option<&'a (dyn Fn(FsckProgress) + Send + Sync)>,
    ) -> Self {
        Check {
            storage,
            concurrency,
            progress,
            report: FsckReport::default(),
            problems: Vec::new(),
            damaged: HashSet::new(),
            origins: vec!["repository".to_string()],
            cuts: HashMap::new(),
            seen: HashSet::new(),
            logs: Vec::new(),
            shards: HashMap::new(),
            inline_shards: HashSet::new(),
            chunks: HashMap::new(),
        }
    }

    fn phase(&self, phase: &'static str, done: u64, total: u64) {
        if let Some(progress) = self.progress {
            progress(FsckProgress { phase, done, total });
        }
    }

    fn problem(&mut self, object: impl Into<String>, problem: impl Into<String>, origin: Origin) {
        let object = object.into();
        self.damaged.insert(object.clone());
        let reachable_from = self.origins[origin as usize].clone();
        self.problems.push(FsckProblem { object, problem: problem.into(), reachable_from });
    }

    /// Counts an object read; `None` (missing) reads nothing.
    fn read(&mut self, stored: &Option<Bytes>) {
        self.report.bytes_read += stored.as_ref().map_or(0, |b| b.len() as u64);
    }

    fn finish(mut self) -> FsckReport {
        self.problems.sort();
        self.problems.dedup();
        self.report.problems = self.problems;
        self.report
    }

    /// Reads the objects of `jobs`, `concurrency` at a time, in order; each comes back with
    /// its key and path.
    fn fetch_all<K: Send + 'a>(
        &self,
        jobs: Vec<(K, String)>,
    ) -> impl futures::Stream<Item = Result<(K, String, Option<Bytes>)>> + Send + 'a {
        let storage = self.storage;
        futures::stream::iter(jobs)
            .map(move |(key, path)| async move {
                let stored = storage.get(&path).await?;
                Ok((key, path, stored))
            })
            .buffered(self.concurrency)
    }

    // ------------------------------------------------------------------ repository records

    /// `config.json` and the `repo/` records; the newest record that decodes gives the cuts
    /// (were the newest one damaged, its predecessor's cuts are the best guess there is:
    /// without any, the walk would report expired and collected snapshots as missing).
    async fn repository_records(&mut self) -> Result<()> {
        self.phase("repository", 0, 0);
        let stored = self.storage.get(paths::CONFIG).await?;
        self.read(&stored);
        if let Some(stored) = stored {
            if let Err(e) = RepositoryConfig::decode(&stored) {
                self.problem(paths::CONFIG, describe(&stored, e)?, REPOSITORY);
            }
        }
        let listed = self.storage.list("repo/").await?;
        let mut seqs: Vec<u64> = listed.iter().filter_map(|o| refs::record_seq(&o.path)).collect();
        seqs.sort_unstable();
        let mut reads = self.fetch_all(seqs.into_iter().map(|seq| ((), format!("repo/{seq:020}"))).collect());
        let mut cuts = None;
        while let Some(((), path, stored)) = reads.try_next().await? {
            self.read(&stored);
            // Listed, then gone: records are never deleted.
            let Some(stored) = stored else {
                self.problem(path, "missing", REPOSITORY);
                continue;
            };
            match RepoRecord::decode(&path, &stored).and_then(|r| r.state.cuts()) {
                Ok(found) => cuts = Some(found),
                Err(e) => self.problem(path, describe(&stored, e)?, REPOSITORY),
            }
        }
        self.cuts = cuts.unwrap_or_default();
        Ok(())
    }

    // ------------------------------------------------------------------ refs

    /// Decodes every ref object and resolves the live refs: `(origin, tip)` for each live
    /// branch (`main` first, then by name) and tag (by name).
    async fn refs(&mut self) -> Result<Vec<(Origin, SnapshotId)>> {
        let folders = RefFolders::list(self.storage).await?;
        // Every record, not only the tips: the operations log reads them all.
        let mut jobs: Vec<(Origin, String)> = Vec::new();
        let mut branches = Vec::new();
        for (name, records) in &folders.branches {
            let origin = self.origin(format!("branch {name}"));
            jobs.extend(records.iter().map(|(_, path)| (origin, path.clone())));
            branches.push((origin, name, records.last()));
        }
        let mut tags = Vec::new();
        for (name, (created, deleted)) in &folders.tags {
            let origin = self.origin(format!("tag {name}"));
            let path = format!("refs/tag.{name}/ref");
            if *created {
                jobs.push((origin, path.clone()));
            }
            if *deleted {
                jobs.push((origin, format!("refs/tag.{name}/deleted")));
            }
            // The tombstone's existence alone deletes a tag (§8.3).
            if !deleted {
                tags.push((origin, path));
            }
        }
        let decoded = self.ref_records(jobs).await?;

        let mut tips = Vec::new();
        // `main` first: the first snapshot is reported as reachable from it.
        branches.sort_by_key(|(_, name, _)| name.as_str() != MAIN_BRANCH);
        for (origin, name, tip) in branches {
            // A damaged tip is reported already; the history behind it cannot be found.
            let Some(record) = tip.and_then(|(seq, path)| Some((*seq, decoded.get(path)?.clone()))) else {
                continue;
            };
            if let Some(tip) = self.branch_tip(name, record, origin).await? {
                tips.push((origin, tip));
            }
        }
        for (origin, path) in tags {
            if let Some(Ok(Some(tip))) = decoded.get(&path).map(|record| record.snapshot_id(&path)) {
                tips.push((origin, tip));
            }
        }
        Ok(tips)
    }

    fn origin(&mut self, label: String) -> Origin {
        self.origins.push(label);
        (self.origins.len() - 1) as Origin
    }

    /// Reads and decodes ref objects; returns those that decode (a live record must also
    /// name a valid snapshot id, §8.1), by path.
    async fn ref_records(&mut self, jobs: Vec<(Origin, String)>) -> Result<HashMap<String, RefRecord>> {
        let total = jobs.len() as u64;
        self.phase("refs", 0, total);
        let mut reads = self.fetch_all(jobs);
        let mut decoded = HashMap::new();
        let mut done = 0;
        while let Some((origin, path, stored)) = reads.try_next().await? {
            self.read(&stored);
            done += 1;
            self.phase("refs", done, total);
            // Listed, then gone: ref objects are never deleted.
            let Some(stored) = stored else {
                self.problem(path, "missing", origin);
                continue;
            };
            match RefRecord::decode(&path, &stored).and_then(|r| r.snapshot_id(&path).map(|_| r)) {
                Ok(record) => {
                    decoded.insert(path, record);
                }
                Err(e) => self.problem(path, describe(&stored, e)?, origin),
            }
        }
        Ok(decoded)
    }

    /// The snapshot at the tip of a branch, resolved (§8.2) from its newest listed record
    /// (`None` for a deleted branch, or one whose tip is damaged: reported once).
    async fn branch_tip(
        &mut self,
        name: &str,
        (seq, record): (u64, RefRecord),
        origin: Origin,
    ) -> Result<Option<SnapshotId>> {
        let start = TipStart::Remembered(TipHint { seq, snapshot: None, record: Some(record) });
        let resolved = refs::branch_tip(self.storage, name, start).await.and_then(|tip| match tip {
            Some(tip) => tip.snapshot_id(name),
            None => Ok(None),
        });
        let e = match resolved {
            Ok(tip) => return Ok(tip),
            Err(e) if e.kind() == ErrorKind::Format => e,
            Err(e) => return Err(e),
        };
        let object = match &e {
            IcechunkError::Corrupt { path, .. } | IcechunkError::UnsupportedFormat { path, .. } => {
                path.clone()
            }
            _ => format!("refs/branch.{name}/"),
        };
        if !self.damaged.contains(&object) {
            self.problem(object, format!("does not decode: {}", reason(&e)), origin);
        }
        Ok(None)
    }

    // ------------------------------------------------------------------ snapshots

    /// Checks the history of `tip` down to the first snapshot already checked, with the cuts
    /// applied. The snapshots of a run of ancestor summaries (§5.1) are read concurrently; a
    /// missing or damaged one is reported and the walk goes on (its child's summaries say what
    /// came before it), except at the end of a run, whose parent only that snapshot names.
    async fn walk(&mut self, origin: Origin, tip: SnapshotId) -> Result<()> {
        let mut next = Some(tip);
        while let Some(head) = next.take() {
            if !self.seen.insert(head) {
                break;
            }
            let stored = self.storage.get(&paths::snapshot(&head)).await?;
            let Some(lineage) = self.snapshot(head, stored, origin)? else { break };
            let (run, after) = plan_run(head, &lineage, &self.cuts, &mut self.seen);
            let mut reads = self.fetch_all(run.into_iter().map(|id| (id, paths::snapshot(&id))).collect());
            while let Some((id, _, stored)) = reads.try_next().await? {
                self.snapshot(id, stored, origin)?;
            }
            next = after;
        }
        Ok(())
    }

    /// Verifies one snapshot and takes note of what it names (its transaction log, its
    /// shards, and the chunks of its inline shards); `None` when it is missing or damaged.
    fn snapshot(&mut self, id: SnapshotId, stored: Option<Bytes>, origin: Origin) -> Result<Option<Lineage>> {
        self.report.snapshots_checked += 1;
        self.phase("snapshots", self.report.snapshots_checked, 0);
        self.read(&stored);
        let path = paths::snapshot(&id);
        let Some(stored) = stored else {
            self.problem(path, "missing", origin);
            return Ok(None);
        };
        let snapshot = match Snapshot::decode(&path, &stored) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                self.problem(path, describe(&stored, e)?, origin);
                return Ok(None);
            }
        };
        drop(stored);
        if snapshot.id != id {
            self.problem(path, format!("wrong id: the snapshot names itself {}", snapshot.id), origin);
            return Ok(None);
        }
        // Every commit writes a log; only the first snapshot may lack one (§4.1, §7).
        self.logs.push((id, snapshot.parent_id.is_some(), origin));
        self.shards_of(&path, &snapshot, origin)?;
        Ok(Some(Lineage {
            ancestors: snapshot.ancestors.iter().map(|a| (a.id, a.parent_id)).collect(),
            parent: snapshot.parent_id,
        }))
    }

    /// Checks the inline shards of a snapshot at once, and notes its shard objects for later;
    /// either only the first time a shard is met (unchanged shards are shared by snapshots).
    fn shards_of(&mut self, path: &str, snapshot: &Snapshot, origin: Origin) -> Result<()> {
        for node in snapshot.nodes.values() {
            let NodeKind::Array(array) = &node.kind else { continue };
            for (block, info) in &array.shards {
                let new = match &info.inline {
                    Some(_) => self.inline_shards.insert(info.manifest_id),
                    None => !self.shards.contains_key(&info.manifest_id),
                };
                if !new {
                    continue;
                }
                let source = ShardSource {
                    node: node.id,
                    node_path: node.path.clone(),
                    block: block.clone(),
                    chunk_count: info.chunk_count,
                    total_bytes: info.total_bytes,
                    origin,
                };
                let Some(stored) = &info.inline else {
                    self.shards.insert(info.manifest_id, source);
                    continue;
                };
                let name = format!("inline manifest {}", info.manifest_id);
                match ManifestShard::decode(&name, stored) {
                    Ok(shard) => self.shard(path, &format!("{name}: "), info.manifest_id, &shard, &source),
                    Err(e) => self.problem(path, within(describe(stored, e)?, &name), origin),
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ transaction logs

    async fn transaction_logs(&mut self) -> Result<()> {
        let logs = std::mem::take(&mut self.logs);
        let total = logs.len() as u64;
        self.phase("transaction_logs", 0, total);
        let jobs = logs.into_iter().map(|log| (log, paths::transaction_log(&log.0))).collect();
        let mut reads = self.fetch_all(jobs);
        let mut done = 0;
        while let Some(((id, required, origin), path, stored)) = reads.try_next().await? {
            done += 1;
            self.phase("transaction_logs", done, total);
            self.read(&stored);
            let Some(stored) = stored else {
                if required {
                    self.report.transaction_logs_checked += 1;
                    self.problem(path, "missing", origin);
                }
                continue;
            };
            self.report.transaction_logs_checked += 1;
            match TransactionLog::decode(&path, &stored) {
                Ok((named, _)) if named != id => {
                    self.problem(path, format!("wrong id: the log names itself {named}"), origin)
                }
                Ok(_) => {}
                Err(e) => self.problem(path, describe(&stored, e)?, origin),
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ manifest shards

    async fn manifests(&mut self) -> Result<()> {
        let shards: Vec<((ManifestId, ShardSource), String)> =
            self.shards.drain().map(|(id, source)| ((id, source), paths::manifest(&id))).collect();
        let total = shards.len() as u64;
        self.phase("manifests", 0, total);
        let mut reads = self.fetch_all(shards);
        while let Some(((id, source), path, stored)) = reads.try_next().await? {
            self.report.manifests_checked += 1;
            self.phase("manifests", self.report.manifests_checked, total);
            self.read(&stored);
            let Some(stored) = stored else {
                self.problem(path, "missing", source.origin);
                continue;
            };
            match ManifestShard::decode(&path, &stored) {
                Ok(shard) => self.shard(&path, "", id, &shard, &source),
                Err(e) => self.problem(path, describe(&stored, e)?, source.origin),
            }
        }
        Ok(())
    }

    /// Checks a decoded shard against the snapshot's reference to it, verifies its inline
    /// chunks, and takes note of the chunk objects it names. `object` is where the shard is
    /// stored (its own object, or its snapshot); `context` starts the details of problems
    /// (which part of the object: empty for a shard object).
    fn shard(
        &mut self,
        object: &str,
        context: &str,
        id: ManifestId,
        shard: &ManifestShard,
        source: &ShardSource,
    ) {
        let origin = source.origin;
        if shard.id() != id {
            self.problem(object, format!("wrong id: {context}the shard names itself {}", shard.id()), origin);
            return;
        }
        if shard.node_id() != source.node || !shard.is_block(&source.block) {
            let problem = format!(
                "inconsistent: {context}the shard holds block {:?} of node {}, the snapshot expects block \
                 {:?} of `{}` ({})",
                shard.block(),
                shard.node_id(),
                source.block,
                source.node_path,
                source.node
            );
            self.problem(object, problem, origin);
        }
        let (mut count, mut bytes, mut bad_inline) = (0u64, 0u64, Vec::new());
        for (coords, chunk) in shard.iter() {
            count += 1;
            bytes += chunk.length;
            match chunk.location {
                ChunkLocation::Inline(data) => {
                    self.report.chunk_refs_checked += 1;
                    if chunk::checksum(&data) != chunk.checksum {
                        bad_inline.push(coords);
                    }
                }
                ChunkLocation::Object { id, offset, block_size_log2 } => {
                    let claim = ChunkClaim {
                        offset,
                        length: chunk.length,
                        checksum: chunk.checksum,
                        block_size_log2,
                    };
                    self.claim(id, claim, origin);
                }
                ChunkLocation::Virtual { .. } => self.report.virtual_refs_not_checked += 1,
            }
        }
        if (count, bytes) != (source.chunk_count, source.total_bytes) {
            let problem = format!(
                "inconsistent: {context}the snapshot counts {} chunk references of {} bytes in this shard \
                 of `{}`, it holds {count} of {bytes}",
                source.chunk_count, source.total_bytes, source.node_path
            );
            self.problem(object, problem, origin);
        }
        if let Some(first) = bad_inline.first() {
            let more = match bad_inline.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            let problem =
                format!("checksum mismatch: {context}inline chunk {first:?} of `{}`{more}", source.node_path);
            self.problem(object, problem, origin);
        }
    }

    fn claim(&mut self, id: ChunkId, claim: ChunkClaim, origin: Origin) {
        match self.chunks.entry(id) {
            Entry::Vacant(entry) => {
                entry.insert(ChunkObject { origin, first: claim, more: Vec::new() });
            }
            Entry::Occupied(mut entry) => {
                let object = entry.get_mut();
                if object.first != claim && !object.more.contains(&claim) {
                    object.more.push(claim);
                }
            }
        }
    }

    // ------------------------------------------------------------------ chunk objects

    /// Reads each chunk object once and verifies every distinct reference to it.
    async fn chunks(&mut self) -> Result<()> {
        let objects: Vec<(ChunkId, ChunkObject)> = self.chunks.drain().collect();
        let total = objects.len() as u64;
        self.phase("chunks", 0, total);
        // The budget in KiB, so that it fits the semaphore's u32 permits.
        let budget = (CHUNK_BYTES_IN_FLIGHT / 1024) as u32;
        let in_flight = tokio::sync::Semaphore::new(budget as usize);
        let (storage, in_flight) = (self.storage, &in_flight);
        let mut checked = futures::stream::iter(objects)
            .map(move |(id, object)| async move {
                let needed = object.claims().map(ChunkClaim::object_end).max().unwrap_or(0);
                let kib = needed.div_ceil(1024).clamp(1, u64::from(budget)) as u32;
                let _permit = in_flight
                    .acquire_many(kib)
                    .await
                    .map_err(|_| IcechunkError::StorageOther("the read budget was closed".into()))?;
                let path = paths::chunk(&id);
                let stored = storage.get(&path).await?;
                let checked = ChunkChecked {
                    read: stored.as_ref().map_or(0, |b| b.len() as u64),
                    claims: if stored.is_some() { object.claims().count() as u64 } else { 0 },
                    problem: match &stored {
                        None => Some("missing".to_string()),
                        Some(stored) => verify_chunk_object(stored, object.claims()),
                    },
                };
                Ok::<_, IcechunkError>((path, object.origin, checked))
            })
            .buffer_unordered(self.concurrency);
        while let Some((path, origin, checked)) = checked.try_next().await? {
            self.report.chunk_objects_checked += 1;
            self.report.bytes_read += checked.read;
            self.report.chunk_refs_checked += checked.claims;
            if let Some(problem) = checked.problem {
                self.problem(path, problem, origin);
            }
            self.phase("chunks", self.report.chunk_objects_checked, total);
        }
        Ok(())
    }
}

/// What reading one chunk object found.
struct ChunkChecked {
    /// Bytes read (0 when missing).
    read: u64,
    /// The references verified against it (0 when missing).
    claims: u64,
    problem: Option<String>,
}

/// The ref objects, as listed: each branch's records (number, path; sorted), and for each tag
/// whether `ref` and `deleted` exist.
struct RefFolders {
    branches: BTreeMap<String, Vec<(u64, String)>>,
    tags: BTreeMap<String, (bool, bool)>,
}

impl RefFolders {
    async fn list(storage: &dyn Storage) -> Result<Self> {
        let mut folders = RefFolders { branches: BTreeMap::new(), tags: BTreeMap::new() };
        for object in storage.list("refs/").await? {
            let Some((folder, name)) = object.path.split_once('/') else { continue };
            if let Some(branch) = folder.strip_prefix("branch.") {
                // The hint is never trusted, so never checked.
                if let Some(seq) = refs::record_seq(name) {
                    let records = folders.branches.entry(branch.to_string()).or_default();
                    records.push((seq, format!("refs/{}", object.path)));
                }
            } else if let Some(tag) = folder.strip_prefix("tag.") {
                let tag = folders.tags.entry(tag.to_string()).or_default();
                match name {
                    "ref" => tag.0 = true,
                    "deleted" => tag.1 = true,
                    _ => {}
                }
            }
        }
        for records in folders.branches.values_mut() {
            records.sort_unstable();
        }
        Ok(folders)
    }
}

/// The run of history after `head` that its ancestor summaries describe, as far as it is
/// new: the snapshots to read, and the one the walk continues with after them (`None` when
/// the run reaches history already walked, or the first snapshot). A cut (§13.1) ends the run
/// and continues with the kept ancestor, exactly as readers of history do.
fn plan_run(
    head: SnapshotId,
    lineage: &Lineage,
    cuts: &HashMap<SnapshotId, SnapshotId>,
    seen: &mut HashSet<SnapshotId>,
) -> (Vec<SnapshotId>, Option<SnapshotId>) {
    if let Some(kept) = cuts.get(&head) {
        return (Vec::new(), Some(*kept));
    }
    let mut run = Vec::new();
    for (id, _) in &lineage.ancestors {
        if !seen.insert(*id) {
            return (run, None);
        }
        run.push(*id);
        if let Some(kept) = cuts.get(id) {
            return (run, Some(*kept));
        }
    }
    let after = lineage.ancestors.last().map_or(lineage.parent, |(_, parent)| *parent);
    (run, after)
}

impl ChunkClaim {
    /// Where the reference's bytes, and its block table if any, end in the object.
    fn object_end(&self) -> u64 {
        let table = match self.block_size_log2 {
            0 => 0,
            log2 => BlockTable::position(self.length, log2).map_or(0, |at| at.end - at.start),
        };
        self.offset.saturating_add(self.length).saturating_add(table)
    }

    /// Verifies the reference against the object's bytes: its checksum, and its block table
    /// (which must combine to the checksum, and whose every block must match) when it has one.
    fn verify(&self, stored: &[u8]) -> std::result::Result<(), String> {
        let ChunkClaim { offset, length, checksum, block_size_log2 } = *self;
        let end = self.object_end();
        if (stored.len() as u64) < end {
            return Err(format!(
                "truncated: the object has {} bytes, the reference to bytes {offset}..{} needs {end}",
                stored.len(),
                offset.saturating_add(length)
            ));
        }
        // Within `stored`, so within usize.
        let data = &stored[offset as usize..(offset + length) as usize];
        let actual = chunk::checksum(data);
        if actual != checksum {
            return Err(format!(
                "checksum mismatch: bytes {offset}..{} have CRC-32C {actual:08x}, the reference says \
                 {checksum:08x}",
                offset + length
            ));
        }
        if block_size_log2 == 0 {
            return Ok(());
        }
        let table_at = BlockTable::position(length, block_size_log2)
            .map_err(|e| format!("does not decode: bad block size: {}", reason(&e)))?;
        let table = &stored[(offset + table_at.start) as usize..(offset + table_at.end) as usize];
        let table = BlockTable::decode("", table, length, block_size_log2, checksum)
            .map_err(|e| format!("checksum mismatch: {}", reason(&e)))?;
        table.verify("", &(0..length), data).map_err(|e| format!("checksum mismatch: {}", reason(&e)))
    }
}

/// The first failing reference of a chunk object, and how many more fail; `None` when all
/// pass.
fn verify_chunk_object<'c>(stored: &[u8], claims: impl Iterator<Item = &'c ChunkClaim>) -> Option<String> {
    let failures: Vec<String> = claims.filter_map(|claim| claim.verify(stored).err()).collect();
    let first = failures.first()?;
    Some(match failures.len() {
        1 => first.clone(),
        n => format!("{first} (and {} more references)", n - 1),
    })
}

/// A decoding failure as a problem's line, or the error itself when it is not about the
/// object's content (then the check cannot go on). A header checksum that does not match is
/// told apart from other damage: it is the most common kind (a changed or truncated byte).
fn describe(stored: &[u8], e: IcechunkError) -> Result<String> {
    if e.kind() != ErrorKind::Format {
        return Err(e);
    }
    if stored.len() >= HEADER_LEN && &stored[..MAGIC.len()] == MAGIC {
        let claimed = u32::from_le_bytes(stored[12..16].try_into().expect("4 bytes"));
        let actual = crc32c::crc32c(&stored[HEADER_LEN..]);
        if claimed != actual {
            return Ok(format!(
                "checksum mismatch: the header says CRC-32C {claimed:08x}, the stored bytes have {actual:08x}"
            ));
        }
    }
    Ok(format!("does not decode: {}", reason(&e)))
}

/// `problem` ("category: detail") about a part of an object: "category: part: detail".
fn within(problem: String, part: &str) -> String {
    match problem.split_once(": ") {
        Some((category, detail)) => format!("{category}: {part}: {detail}"),
        None => format!("{problem}: {part}"),
    }
}

/// What is wrong, without the object's path (the report names it).
fn reason(e: &IcechunkError) -> String {
    match e {
        IcechunkError::Corrupt { reason, .. } => reason.clone(),
        IcechunkError::UnsupportedFormat { reason, .. } => format!("unsupported format: {reason}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(data: &[u8], log2: u8) -> ChunkClaim {
        ChunkClaim {
            offset: 0,
            length: data.len() as u64,
            checksum: chunk::checksum(data),
            block_size_log2: log2,
        }
    }

    #[test]
    fn chunk_objects_are_verified_with_their_tables() {
        let data: Bytes = (0..40_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
        let object = chunk::encode_object(&data, 14);
        let good = claim(&data, 14);
        assert_eq!(good.object_end(), object.len() as u64);
        assert_eq!(good.verify(&object), Ok(()));
        assert!(claim(&data, 0).verify(&data).is_ok());

        let mut flipped = object.to_vec();
        flipped[100] ^= 1;
        assert!(good.verify(&flipped).unwrap_err().starts_with("checksum mismatch: bytes 0..40000"));
        // Damage in the table only: the bytes match, the table does not.
        let mut table = object.to_vec();
        let last = table.len() - 1;
        table[last] ^= 1;
        assert!(good.verify(&table).unwrap_err().starts_with("checksum mismatch: the block table"));
        assert!(good.verify(&object[..40_000]).unwrap_err().starts_with("truncated: the object has 40000"));

        let other = ChunkClaim { checksum: good.checksum ^ 1, ..good };
        let verdict = verify_chunk_object(&object, [good, other, other].iter()).unwrap();
        assert!(verdict.ends_with("(and 1 more references)"), "{verdict}");
        assert_eq!(verify_chunk_object(&object, [good].iter()), None);
    }

    #[test]
    fn runs_stop_at_cuts_and_at_walked_history() {
        let ids: Vec<SnapshotId> = (0..5).map(|_| SnapshotId::random()).collect();
        // ids[0] has summaries of 1, 2, 3; 3's parent is 4.
        let lineage = Lineage {
            ancestors: vec![(ids[1], Some(ids[2])), (ids[2], Some(ids[3])), (ids[3], Some(ids[4]))],
            parent: Some(ids[1]),
        };
        let mut seen = HashSet::from([ids[0]]);
        assert_eq!(
            plan_run(ids[0], &lineage, &HashMap::new(), &mut seen),
            (ids[1..4].to_vec(), Some(ids[4]))
        );

        let mut seen = HashSet::from([ids[0], ids[2]]);
        assert_eq!(plan_run(ids[0], &lineage, &HashMap::new(), &mut seen), (vec![ids[1]], None));

        let cuts = HashMap::from([(ids[1], ids[4])]);
        let mut seen = HashSet::from([ids[0]]);
        assert_eq!(plan_run(ids[0], &lineage, &cuts, &mut seen), (vec![ids[1]], Some(ids[4])));
        let cuts = HashMap::from([(ids[0], ids[3])]);
        assert_eq!(plan_run(ids[0], &lineage, &cuts, &mut HashSet::new()), (vec![], Some(ids[3])));
    }
}
