//! Snapshot expiration and garbage collection (spec §13): what is unreachable and old goes,
//! everything a ref or a writing session needs stays.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, Utc};
use common::*;
use icechunk::repo_info::Availability;
use icechunk::repository::GcOptions;
use icechunk::{ErrorKind, Repository, RepositoryConfig};

/// A local repository whose chunks are always objects (no inline chunks).
async fn repo(dir: &Path) -> Repository {
    let config = RepositoryConfig { inline_chunk_threshold_bytes: 0, ..Default::default() };
    Repository::create(local_storage(dir), Some(config)).await.unwrap()
}

async fn setup(repo: &Repository) {
    write_commit(
        repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[4], &[1], "uint64"))],
        "array",
    )
    .await;
}

/// Writes chunk 0 with `seed` and commits.
async fn overwrite(repo: &Repository, seed: u64) -> icechunk::SnapshotId {
    write_commit(repo, "main", &[("a/c/0", pattern(seed, 8))], &format!("write {seed}")).await
}

/// The object files under `folder` of the repository, by name.
fn objects(dir: &Path, folder: &str) -> BTreeSet<String> {
    files_under(&dir.join(folder)).into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// The ref records and tags under `refs/`, without the branches' `hint` objects: a commit
/// writes those in the background after it returns (a `hint#N` being its temporary file).
fn ref_records(dir: &Path) -> BTreeSet<String> {
    let hint =
        |name: &str| name.rsplit('/').next().is_some_and(|last| last == "hint" || last.starts_with("hint#"));
    objects(dir, "refs").into_iter().filter(|name| !hint(name)).collect()
}

fn now_plus(seconds: i64) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(seconds)
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_cuts_history_and_gc_deletes_only_what_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    let mut ids = Vec::new();
    for seed in [1, 2, 3] {
        ids.push(overwrite(&repo, seed).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = overwrite(&repo, 4).await;
    assert_eq!(chunk_objects(dir.path()), 4);

    // Nothing is unreachable yet: a collection deletes nothing.
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(summary.chunks_deleted + summary.snapshots_deleted, 0, "{summary:?}");

    let root = repo.root_snapshot().await.unwrap();
    let expired = repo.expire_snapshots(cutoff, false, false).await.unwrap();
    // The array's creation and the three old writes expire; the root and the tip stay.
    assert_eq!(expired.len(), 4, "{expired:?}");
    assert!(ids.iter().all(|id| expired.contains(id)));
    assert_eq!(ancestry_ids(&repo, &main_branch()).await, vec![newest, root]);
    // Expired, not yet collected: still readable by id.
    assert_eq!(read_at(&repo, &snap(&ids[0]), "a/c/0").await, Some(pattern(1, 8)));

    let dry = GcOptions { dry_run: true, ..GcOptions::new(now_plus(0)) };
    let would = repo.garbage_collect(&dry).await.unwrap();
    assert_eq!((would.chunks_deleted, would.snapshots_deleted, would.transaction_logs_deleted), (3, 4, 4));
    assert_eq!(chunk_objects(dir.path()), 4, "a dry run deletes nothing");

    let done = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(done.chunks_deleted, 3);
    assert_eq!(done.snapshots_deleted, 4);
    assert!(done.bytes_deleted > 0);
    assert_eq!(chunk_objects(dir.path()), 1);
    // What is left is exactly what the refs reach.
    let kept: BTreeSet<String> = [newest, root].iter().map(|s| s.to_string()).collect();
    assert_eq!(objects(dir.path(), "snapshots"), kept);
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await, Some(pattern(4, 8)));
    assert_kind(repo.readonly_session(&snap(&ids[0])).await, ErrorKind::SnapshotNotFound);
    // A second collection finds nothing.
    let again = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(again.chunks_deleted + again.snapshots_deleted, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_open_across_a_collection_commits_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    // A writer uploads chunks and keeps its session open...
    let session = repo.writable_session("main").await.unwrap();
    for i in 0..4 {
        session.store().set(&format!("a/c/{i}"), pattern(10 + i, 8)).await.unwrap();
    }
    session.wait_for_uploads().await.unwrap();
    // ... while a collection with no grace period at all runs: the chunks are unreachable
    // and older than the cut-off, but the session's lease keeps them.
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(1))).await.unwrap();
    assert_eq!(summary.chunks_deleted, 0, "{summary:?}");
    assert_eq!(summary.objects_kept_for_sessions, 4);
    session.commit("late", None, false).await.unwrap();
    for i in 0..4 {
        assert_eq!(read_at(&repo, &main_branch(), &format!("a/c/{i}")).await, Some(pattern(10 + i, 8)));
    }
    // The commit released the lease (in the background).
    for _ in 0..100 {
        if objects(dir.path(), "leases").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(objects(dir.path(), "leases").is_empty());

    // An abandoned session: its lease goes when it is dropped, then its chunks are garbage.
    let abandoned = repo.writable_session("main").await.unwrap();
    abandoned.store().set("a/c/0", pattern(99, 8)).await.unwrap();
    abandoned.wait_for_uploads().await.unwrap();
    drop(abandoned);
    for _ in 0..100 {
        if objects(dir.path(), "leases").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(1))).await.unwrap();
    assert_eq!(summary.chunks_deleted, 1, "{summary:?}");
    for i in 0..4 {
        assert_eq!(read_at(&repo, &main_branch(), &format!("a/c/{i}")).await, Some(pattern(10 + i, 8)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_can_delete_old_refs_but_never_main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    let first = overwrite(&repo, 1).await;
    repo.create_branch("old-branch", &first).await.unwrap();
    repo.create_tag("old-tag", &first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    overwrite(&repo, 2).await;

    // Kept refs keep their tips.
    let expired = repo.expire_snapshots(cutoff, false, false).await.unwrap();
    assert!(!expired.contains(&first));
    assert_eq!(repo.lookup_tag("old-tag").await.unwrap(), first);

    let expired = repo.expire_snapshots(cutoff, true, true).await.unwrap();
    assert!(expired.contains(&first), "{expired:?}");
    assert_kind(repo.lookup_tag("old-tag").await, ErrorKind::RefNotFound);
    assert_kind(repo.lookup_branch("old-branch").await, ErrorKind::RefNotFound);
    assert!(repo.lookup_branch("main").await.is_ok());
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert!(summary.snapshots_deleted >= 2, "{summary:?}");
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await, Some(pattern(2, 8)));
}

#[tokio::test(flavor = "multi_thread")]
async fn cut_offs_in_the_future_are_refused_and_delete_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    overwrite(&repo, 1).await;
    assert_kind(repo.garbage_collect(&GcOptions::new(now_plus(3600))).await, ErrorKind::InvalidInput);
    assert_kind(repo.expire_snapshots(now_plus(3600), false, false).await, ErrorKind::InvalidInput);
    assert_eq!(ancestry_ids(&repo, &main_branch()).await.len(), 3);
    assert_eq!(chunk_objects(dir.path()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiry_dry_run_reports_what_a_real_run_then_does_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    let first = overwrite(&repo, 1).await;
    repo.create_branch("old-branch", &first).await.unwrap();
    repo.create_tag("old-tag", &first).await.unwrap();
    let second = overwrite(&repo, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = overwrite(&repo, 3).await;
    let history = ancestry_ids(&repo, &main_branch()).await;
    let refs_before = ref_records(dir.path());

    // Read-only is fine for a dry run: it writes nothing.
    repo.set_status(Availability::ReadOnly, None).await.unwrap();
    let dry = repo.expire_snapshots_report(cutoff, true, true, true).await.unwrap();
    assert_kind(repo.expire_snapshots_report(cutoff, true, true, false).await, ErrorKind::ReadOnly);
    repo.set_status(Availability::Online, None).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.deleted_branches, vec!["old-branch".to_string()]);
    assert_eq!(dry.deleted_tags, vec!["old-tag".to_string()]);
    // The array's creation and both old writes; not the root, not main's tip.
    let array = history[history.len() - 2];
    assert_eq!(dry.expired, BTreeSet::from([array, first, second]));
    // Nothing changed: refs, history, no cuts recorded.
    assert_eq!(ref_records(dir.path()), refs_before);
    assert_eq!(ancestry_ids(&repo, &main_branch()).await, history);
    assert_eq!(repo.lookup_tag("old-tag").await.unwrap(), first);
    assert_eq!(repo.lookup_branch("old-branch").await.unwrap(), first);
    assert!(repo.state().await.unwrap().history_cuts.is_empty());
    let json = serde_json::to_value(&dry).unwrap();
    let listed: BTreeSet<String> =
        json["expired"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_string()).collect();
    assert_eq!(listed, dry.expired.iter().map(|id| id.to_string()).collect());
    assert_eq!(json["dry_run"], true);

    let real = repo.expire_snapshots_report(cutoff, true, true, false).await.unwrap();
    assert!(!real.dry_run);
    assert_eq!(real.expired, dry.expired);
    assert_eq!((&real.deleted_branches, &real.deleted_tags), (&dry.deleted_branches, &dry.deleted_tags));
    let root = repo.root_snapshot().await.unwrap();
    assert_eq!(ancestry_ids(&repo, &main_branch()).await, vec![newest, root]);
    assert_kind(repo.lookup_tag("old-tag").await, ErrorKind::RefNotFound);
    assert_kind(repo.lookup_branch("old-branch").await, ErrorKind::RefNotFound);
    // Nothing left to expire: a second dry run says so.
    let again = repo.expire_snapshots_report(cutoff, true, true, true).await.unwrap();
    assert!(again.expired.is_empty() && again.deleted_branches.is_empty(), "{again:?}");
}

/// A repository with garbage: the array's creation and two old writes of chunk 0, expired
/// (a third write is main's tip).
async fn repo_with_garbage(dir: &Path, config: RepositoryConfig) -> Repository {
    let repo = Repository::create(local_storage(dir), Some(config)).await.unwrap();
    setup(&repo).await;
    for seed in [1, 2, 3] {
        overwrite(&repo, seed).await;
    }
    repo.expire_snapshots(now_plus(0), false, false).await.unwrap();
    repo
}

/// Every file of the repository, with its size: what a refused collection must not change.
fn everything(dir: &Path) -> BTreeSet<(String, u64)> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.to_string_lossy().into_owned(), std::fs::metadata(dir.join(&p)).unwrap().len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minimum_grace_period_in_the_config_refuses_later_cut_offs() {
    let dir = tempfile::tempdir().unwrap();
    let hour = RepositoryConfig {
        inline_chunk_threshold_bytes: 0,
        gc_min_grace_period_seconds: Some(3600),
        ..Default::default()
    };
    let repo = repo_with_garbage(dir.path(), hour.clone()).await;
    let before = everything(dir.path());
    let too_late = now_plus(-3500);
    for dry_run in [false, true] {
        let options = GcOptions { dry_run, ..GcOptions::new(too_late) };
        let message = repo.garbage_collect(&options).await.unwrap_err();
        assert_eq!(message.kind(), ErrorKind::InvalidInput);
        let message = message.to_string();
        assert!(message.contains("3600 seconds") && message.contains(&too_late.to_string()), "{message}");
    }
    assert_eq!(everything(dir.path()), before, "a refused collection changes nothing");
    // Old enough: allowed (the garbage is younger than an hour, so it stays).
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(-3700))).await.unwrap();
    assert_eq!(summary, Default::default());

    // Stored at creation; a handle opened with a config of its own cannot relax it.
    let opened = Repository::open(local_storage(dir.path()), None).await.unwrap();
    assert_eq!(opened.config().gc_min_grace_period_seconds, Some(3600));
    let relaxed = RepositoryConfig { gc_min_grace_period_seconds: None, ..hour.clone() };
    let overridden = Repository::open(local_storage(dir.path()), Some(relaxed.clone())).await.unwrap();
    assert_kind(overridden.garbage_collect(&GcOptions::new(now_plus(0))).await, ErrorKind::InvalidInput);
    // Saving a config without it lifts it: the garbage goes.
    overridden.save_config().await.unwrap();
    let summary = overridden.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(summary.chunks_deleted, 2, "{summary:?}");

    // A minimum saved later applies to every handle opened afterwards, and to this one.
    let day = RepositoryConfig { gc_min_grace_period_seconds: Some(86_400), ..relaxed };
    overridden.reopen(Some(day)).unwrap().save_config().await.unwrap();
    let reopened = Repository::open(local_storage(dir.path()), None).await.unwrap();
    assert_eq!(reopened.config().gc_min_grace_period_seconds, Some(86_400));
    assert_kind(reopened.garbage_collect(&GcOptions::new(now_plus(-3700))).await, ErrorKind::InvalidInput);
    assert_kind(overridden.garbage_collect(&GcOptions::new(now_plus(-3700))).await, ErrorKind::InvalidInput);
    reopened.garbage_collect(&GcOptions::new(now_plus(-86_401))).await.unwrap();

    // Checked like every other setting.
    let zero = RepositoryConfig { gc_min_grace_period_seconds: Some(0), ..Default::default() };
    let elsewhere = tempfile::tempdir().unwrap();
    assert_kind(
        Repository::create(local_storage(elsewhere.path()), Some(zero)).await,
        ErrorKind::InvalidInput,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_reports_every_phase_and_ends_full() {
    use icechunk::repository::GcProgress;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let config = RepositoryConfig { inline_chunk_threshold_bytes: 0, ..Default::default() };
    let repo = repo_with_garbage(dir.path(), config).await;
    let run = |dry_run: bool| {
        let seen: Arc<Mutex<Vec<GcProgress>>> = Arc::default();
        let sink = seen.clone();
        let options = GcOptions {
            dry_run,
            progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
            ..GcOptions::new(now_plus(0))
        };
        let repo = &repo;
        async move {
            let summary = repo.garbage_collect(&options).await.unwrap();
            let seen = seen.lock().unwrap().clone();
            (summary, seen)
        }
    };

    let (dry, seen) = run(true).await;
    assert_eq!(phases(&seen), ["snapshots", "manifests", "listing"]);
    let (summary, seen) = run(false).await;
    assert_eq!(summary.chunks_deleted, dry.chunks_deleted);
    assert_eq!(phases(&seen), ["snapshots", "manifests", "listing", "deleting"]);
    for phase in phases(&seen) {
        let steps: Vec<&GcProgress> = seen.iter().filter(|p| p.phase == phase).collect();
        assert_eq!((steps[0].done, steps.len() as u64), (0, steps[0].total + 1), "{phase}: one per step");
        assert!(steps.windows(2).all(|w| w[1].done == w[0].done + 1 && w[1].total == w[0].total));
        let last = steps.last().unwrap();
        assert_eq!(last.done, last.total, "{phase}");
    }
    let deleting = seen.last().unwrap();
    let objects = summary.chunks_deleted
        + summary.snapshots_deleted
        + summary.transaction_logs_deleted
        + summary.manifests_deleted;
    assert_eq!((deleting.done, deleting.total), (objects, objects));
    assert_eq!(objects, 2 + 3 + 3 + summary.manifests_deleted, "{summary:?}");
    // What is reachable now: the root and the tip, and the tip's shard.
    let snapshots = seen.iter().find(|p| p.phase == "snapshots").unwrap();
    assert_eq!(snapshots.total, 2);
    assert_eq!(seen.iter().find(|p| p.phase == "listing").unwrap().total, 4);
}

/// The phases of a collection's progress reports, in order.
fn phases(seen: &[icechunk::repository::GcProgress]) -> Vec<&'static str> {
    let mut phases: Vec<&'static str> = seen.iter().map(|p| p.phase).collect();
    phases.dedup();
    phases
}
