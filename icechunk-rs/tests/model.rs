//! Model-based test: random sequences of writes, commits, branch and tag operations, checked
//! after every step against a plain in-memory model (one BTreeMap of chunks per snapshot).

mod common;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use common::*;
use icechunk::{ErrorKind, Repository, Session, SnapshotId};
use proptest::prelude::*;

const N: u32 = 4; // the array is a 4x4 grid of chunks
const BRANCHES: [&str; 3] = ["main", "b1", "b2"];
const TAGS: [&str; 3] = ["t1", "t2", "t3"];

type Chunks = BTreeMap<(u32, u32), Bytes>;

#[derive(Debug, Clone)]
enum Op {
    Set {
        x: u32,
        y: u32,
        large: bool,
        seed: u64,
    },
    Delete {
        x: u32,
        y: u32,
    },
    Commit,
    CreateBranch(usize),
    Switch(usize),
    CreateTag(usize),
    /// Reset the current branch to its `n`-th ancestor (modulo the history length).
    Reset(usize),
    ReadTag(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..N, 0..N, any::<bool>(), any::<u64>()).prop_map(|(x, y, large, seed)| Op::Set { x, y, large, seed }),
        2 => (0..N, 0..N).prop_map(|(x, y)| Op::Delete { x, y }),
        3 => Just(Op::Commit),
        1 => (0..BRANCHES.len()).prop_map(Op::CreateBranch),
        2 => (0..BRANCHES.len()).prop_map(Op::Switch),
        1 => (0..TAGS.len()).prop_map(Op::CreateTag),
        1 => (1..4usize).prop_map(Op::Reset),
        1 => (0..TAGS.len()).prop_map(Op::ReadTag),
    ]
}

fn value(large: bool, seed: u64) -> Bytes {
    // 600..1100 bytes is above the 512-byte inline threshold, 1..64 below it.
    let len = if large { 600 + (seed % 500) as usize } else { 1 + (seed % 64) as usize };
    pattern(seed, len)
}

fn key(x: u32, y: u32) -> String {
    format!("arr/c/{x}/{y}")
}

struct Model {
    snapshots: HashMap<SnapshotId, Chunks>,
    parents: HashMap<SnapshotId, SnapshotId>,
    branches: BTreeMap<String, SnapshotId>,
    tags: BTreeMap<String, SnapshotId>,
    current: String,
    /// Uncommitted state of the writable session: base chunks plus pending changes.
    working: Chunks,
}

async fn check_reads(session: &Session, expected: &Chunks, what: &str) {
    let store = session.store();
    let reads = (0..N).flat_map(|x| (0..N).map(move |y| (x, y))).map(|(x, y)| {
        let store = store.clone();
        async move { ((x, y), store.get(&key(x, y), None).await.unwrap()) }
    });
    for ((x, y), got) in futures::future::join_all(reads).await {
        assert_eq!(got.as_ref(), expected.get(&(x, y)), "{what}: chunk {x},{y}");
    }
    let mut listed = store.list_prefix("arr/c/").await.unwrap();
    listed.sort();
    let mut want: Vec<String> = expected.keys().map(|(x, y)| key(*x, *y)).collect();
    want.sort();
    assert_eq!(listed, want, "{what}: listing");
}

async fn run(ops: Vec<Op>) {
    let repo: Repository = mem_repo().await;
    let s1 = write_commit(
        &repo,
        "main",
        &[("zarr.json", group_json()), ("arr/zarr.json", array_json(&[8, 8], &[2, 2], "uint8"))],
        "setup",
    )
    .await;
    let mut m = Model {
        snapshots: HashMap::from([(s1, Chunks::new())]),
        parents: HashMap::new(),
        branches: BTreeMap::from([("main".to_string(), s1)]),
        tags: BTreeMap::new(),
        current: "main".to_string(),
        working: Chunks::new(),
    };
    let s0 = repo.lookup_snapshot(&s1).await.unwrap().parent_id.unwrap();
    m.parents.insert(s1, s0);
    let mut session = repo.writable_session("main").await.unwrap();

    for (step, op) in ops.into_iter().enumerate() {
        let what = format!("step {step} {op:?} on {}", m.current);
        match op {
            Op::Set { x, y, large, seed } => {
                let v = value(large, seed);
                session.store().set(&key(x, y), v.clone()).await.unwrap();
                m.working.insert((x, y), v);
            }
            Op::Delete { x, y } => {
                session.store().delete(&key(x, y)).await.unwrap();
                m.working.remove(&(x, y));
            }
            Op::Commit => {
                let base = m.branches[&m.current];
                assert_eq!(session.snapshot_id(), base, "{what}");
                if !session.has_uncommitted_changes() {
                    assert_eq!(m.working, m.snapshots[&base], "{what}: no changes, same chunks");
                    assert!(session.commit("empty", None, false).await.is_err(), "{what}: empty commit");
                    session = repo.writable_session(&m.current).await.unwrap();
                }
                match session.commit(&format!("step {step}"), None, true).await {
                    Ok(id) => {
                        assert!(!m.snapshots.contains_key(&id), "{what}: fresh id");
                        m.snapshots.insert(id, m.working.clone());
                        m.parents.insert(id, base);
                        m.branches.insert(m.current.clone(), id);
                    }
                    Err(e) => panic!("{what}: commit failed: {e}"),
                }
                session = repo.writable_session(&m.current).await.unwrap();
            }
            Op::CreateBranch(i) => {
                let name = BRANCHES[i];
                let tip = m.branches[&m.current];
                let r = repo.create_branch(name, &tip).await;
                if m.branches.contains_key(name) {
                    assert_kind(r, ErrorKind::AlreadyExists);
                } else {
                    r.unwrap();
                    m.branches.insert(name.to_string(), tip);
                }
            }
            Op::Switch(i) => {
                let name = BRANCHES[i];
                match repo.writable_session(name).await {
                    Ok(s) => {
                        assert!(m.branches.contains_key(name), "{what}: session on a missing branch");
                        session = s;
                        m.current = name.to_string();
                        m.working = m.snapshots[&m.branches[name]].clone();
                    }
                    Err(e) => {
                        assert!(!m.branches.contains_key(name), "{what}: {e}");
                        assert_eq!(e.kind(), ErrorKind::RefNotFound, "{what}");
                    }
                }
            }
            Op::CreateTag(i) => {
                let name = TAGS[i];
                let tip = m.branches[&m.current];
                let r = repo.create_tag(name, &tip).await;
                if m.tags.contains_key(name) {
                    assert_kind(r, ErrorKind::AlreadyExists);
                } else {
                    r.unwrap();
                    m.tags.insert(name.to_string(), tip);
                }
            }
            Op::Reset(n) => {
                let tip = m.branches[&m.current];
                // Back to at most the setup snapshot (before it, the array does not exist).
                let mut history = vec![tip];
                while let Some(p) =
                    m.parents.get(history.last().unwrap()).filter(|p| m.snapshots.contains_key(*p))
                {
                    history.push(*p);
                }
                let target = history[n % history.len()];
                repo.reset_branch(&m.current, &target, Some(&tip)).await.unwrap();
                m.branches.insert(m.current.clone(), target);
                assert_eq!(repo.lookup_branch(&m.current).await.unwrap(), target, "{what}");
                // The old session is now stale: it must not be able to commit.
                if target != tip {
                    assert_kind(session.commit("stale", None, true).await, ErrorKind::Conflict);
                }
                session = repo.writable_session(&m.current).await.unwrap();
                m.working = m.snapshots[&target].clone();
            }
            Op::ReadTag(i) => {
                let name = TAGS[i];
                match m.tags.get(name) {
                    Some(id) => {
                        let ro = repo.readonly_session(&tag(name)).await.unwrap();
                        assert_eq!(ro.snapshot_id(), *id, "{what}");
                        check_reads(&ro, &m.snapshots[id], &what).await;
                    }
                    None => assert_kind(
                        repo.readonly_session(&tag(name)).await.map(|_| ()),
                        ErrorKind::RefNotFound,
                    ),
                }
            }
        }
        // After every step: the writable session reads its working state, and the branch tip
        // reads the committed state.
        check_reads(&session, &m.working, &what).await;
        let tip = m.branches[&m.current];
        assert_eq!(repo.lookup_branch(&m.current).await.unwrap(), tip, "{what}");
        let ro = repo.readonly_session(&branch(&m.current)).await.unwrap();
        check_reads(&ro, &m.snapshots[&tip], &format!("{what} (tip)")).await;
    }

    // Finally: every branch, tag and snapshot known to the model reads right, and the branch
    // ancestries follow the model's parent links.
    for (name, id) in &m.branches {
        assert_eq!(repo.lookup_branch(name).await.unwrap(), *id);
        let ids = ancestry_ids(&repo, &branch(name)).await;
        let mut want = vec![*id];
        while let Some(p) = m.parents.get(want.last().unwrap()) {
            want.push(*p);
        }
        assert_eq!(ids, want, "ancestry of {name}");
    }
    let mut listed: Vec<String> = repo.list_branches().await.unwrap().into_iter().collect();
    listed.sort();
    assert_eq!(listed, m.branches.keys().cloned().collect::<Vec<_>>());
    let tags: Vec<String> = repo.list_tags().await.unwrap().into_iter().collect();
    assert_eq!(tags, m.tags.keys().cloned().collect::<Vec<_>>());
    for (id, chunks) in &m.snapshots {
        let ro = repo.readonly_session(&snap(id)).await.unwrap();
        check_reads(&ro, chunks, &format!("final snapshot {id}")).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
