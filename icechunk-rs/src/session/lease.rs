//! Leases (spec/format.md §13.2): a writing session announces itself to garbage collection
//! before it writes its first object, with an object `leases/<id>`. The collector keeps every
//! object written since the oldest live lease, so a session open longer than the collector's
//! grace period still commits with every chunk it uploaded. A lease is deleted once the
//! session's changes are committed; one older than [`MAX_LEASE_AGE`] is ignored by the
//! collector, so a session that old is refused at commit rather than landing with chunks the
//! collector may have deleted.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};

use super::Session;
use crate::error::{IcechunkError, Result};
use crate::format::paths;
use crate::ids::SnapshotId;
use crate::repository::Repository;

/// The collector ignores leases older than this (a crashed writer's lease must not hold back
/// collection for ever).
pub const MAX_LEASE_AGE: Duration = Duration::hours(24);
/// A session commits only while its oldest lease is younger than `MAX_LEASE_AGE` by this
/// much: room for clocks that disagree and for the commit's own requests.
pub const LEASE_MARGIN: Duration = Duration::hours(1);

/// One lease: its object's name and when this process wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub created_at: DateTime<Utc>,
}

/// The leases a session holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Leases {
    /// The lease covering what this session writes now (shared with its forks).
    pub current: Option<Lease>,
    /// Leases this session, or forks merged into it, wrote: deleted after the next commit.
    pub owned: Vec<Lease>,
}

impl Leases {
    /// The leases a merged fork brings: its own, which this session now deletes after commit.
    pub fn absorb(&mut self, theirs: &Leases) {
        for lease in &theirs.owned {
            if !self.owned.contains(lease) {
                self.owned.push(lease.clone());
            }
        }
    }
}

/// Writes a new lease for a session on `branch`.
pub(crate) async fn write_lease(repo: &Repository, branch: Option<&str>) -> Result<Lease> {
    // Microseconds, as the lease travels with forks.
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
    let lease = Lease { id: SnapshotId::random().to_string(), created_at: now };
    let body = serde_json::json!({
        "created_at": lease.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "branch": branch,
    });
    repo.storage().put(&paths::lease(&lease.id), body.to_string().into_bytes().into()).await?;
    Ok(lease)
}

impl Session {
    /// The lease covering this session's writes, written first if there is none (a session
    /// from `writable_session` has one from the start). Every object this session writes
    /// from now on is newer than the lease.
    /// Storage that takes no writes needs none: the writes themselves are refused.
    pub(crate) async fn ensure_lease(&self) -> Result<()> {
        if self.leases().current.is_some() || !self.repository().storage().writable() {
            return Ok(());
        }
        let _one_at_a_time = self.inner.lease_writer.lock().await;
        if self.leases().current.is_some() {
            return Ok(());
        }
        let lease = write_lease(self.repository(), self.branch().as_deref()).await?;
        self.adopt_lease(lease);
        Ok(())
    }

    /// Makes `lease`, written for this session, its current one and its own to delete.
    pub(crate) fn adopt_lease(&self, lease: Lease) {
        let mut leases = self.leases();
        leases.current = Some(lease.clone());
        leases.owned.push(lease);
    }

    /// Refuses to publish when the oldest lease covering this session's objects is so old
    /// that a collector may have stopped honouring it.
    pub(crate) fn check_leases_fresh(&self) -> Result<()> {
        let leases = self.leases();
        let oldest = leases.current.iter().chain(&leases.owned).map(|l| l.created_at).min();
        if let Some(oldest) = oldest {
            let age = Utc::now() - oldest;
            if age > MAX_LEASE_AGE - LEASE_MARGIN {
                return Err(IcechunkError::SessionState(format!(
                    "this session has been writing since {oldest} ({} hours): garbage collection \
                     keeps a session's objects for {} hours at most, so some may be gone; write \
                     the changes again in a new session",
                    age.num_hours(),
                    (MAX_LEASE_AGE - LEASE_MARGIN).num_hours()
                )));
            }
        }
        Ok(())
    }

    /// After a commit: the session's changes are reachable from a ref now, so its leases
    /// (and its merged forks') are deleted, in the background: a lease left behind only
    /// holds back garbage collection until it ages out.
    pub(crate) fn release_leases(&self) {
        let owned = {
            let mut leases = self.leases();
            leases.current = None;
            std::mem::take(&mut leases.owned)
        };
        delete_leases(&self.inner, owned);
    }
}

/// Lease deletions still running in the background, in this process.
static PENDING_DELETIONS: AtomicUsize = AtomicUsize::new(0);

/// How many lease deletions are still running: a process about to exit waits for them
/// (the Python package does, at exit), or its leases hold collection back for a day.
pub fn pending_lease_deletions() -> usize {
    PENDING_DELETIONS.load(Ordering::SeqCst)
}

/// Deletes `owned` in the background, on the session's runtime.
pub(super) fn delete_leases(inner: &super::Inner, owned: Vec<Lease>) {
    if owned.is_empty() {
        return;
    }
    let storage = inner.repo.storage().clone();
    PENDING_DELETIONS.fetch_add(1, Ordering::SeqCst);
    // Counted down even if the task is dropped unrun (a runtime shutting down).
    let done = CountDown;
    inner.runtime.spawn(async move {
        let _done = done;
        for lease in owned {
            if let Err(e) = storage.delete(&paths::lease(&lease.id)).await {
                tracing::warn!(lease = %lease.id, error = %e, "could not delete a session lease");
            }
        }
    });
}

struct CountDown;

impl Drop for CountDown {
    fn drop(&mut self) {
        PENDING_DELETIONS.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for super::Inner {
    /// A session dropped with uncommitted changes: its objects are garbage now, so its leases
    /// go. A fork's leases are not its own to delete: the session it merges into owns them.
    fn drop(&mut self) {
        if !self.fork {
            let owned = std::mem::take(&mut crate::sync::lock(&self.leases).owned);
            delete_leases(self, owned);
        }
    }
}
