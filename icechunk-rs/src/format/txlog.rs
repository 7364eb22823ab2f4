//! Transaction logs: what one commit changed relative to its parent. Diffs are built from them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use super::fb;
use super::header::{self, ObjectType};
use crate::error::{IcechunkError, Result};
use crate::ids::{ChunkCoords, NodeId, SnapshotId};

/// A node a commit touched: its id and path.
pub type ChangedNode = (NodeId, String);

/// A node whose path a commit changed (`Session::move_node`): its path in the parent snapshot
/// and in the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedNode {
    pub id: NodeId,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionLog {
    pub new_groups: Vec<ChangedNode>,
    pub new_arrays: Vec<ChangedNode>,
    pub deleted_groups: Vec<ChangedNode>,
    pub deleted_arrays: Vec<ChangedNode>,
    pub updated_groups: Vec<ChangedNode>,
    pub updated_arrays: Vec<ChangedNode>,
    /// Per array (node id, path): the coordinates of chunks written or deleted.
    pub updated_chunks: BTreeMap<(NodeId, String), BTreeSet<ChunkCoords>>,
    /// Nodes whose path changed (each node of a moved subtree has its own entry).
    pub moved_nodes: Vec<MovedNode>,
}

impl TransactionLog {
    pub fn is_empty(&self) -> bool {
        self.new_groups.is_empty()
            && self.new_arrays.is_empty()
            && self.deleted_groups.is_empty()
            && self.deleted_arrays.is_empty()
            && self.updated_groups.is_empty()
            && self.updated_arrays.is_empty()
            && self.updated_chunks.is_empty()
            && self.moved_nodes.is_empty()
    }

    /// One log for two commits in a row, this one and then `later` (as amending a commit
    /// folds its changes into the commit it replaces), by node id: a node created here and
    /// deleted later appears nowhere; a node created here stays "new" whatever `later` did to
    /// it; a node deleted later loses its updates and chunks; chunk coordinates add up.
    pub fn followed_by(&self, later: &TransactionLog) -> TransactionLog {
        // Our entries name nodes that `later` moved by their new paths.
        let this = self.with_paths_moved(&later.moved_nodes);
        let this = &this;
        let ids = |lists: &[&Vec<ChangedNode>]| -> HashSet<NodeId> {
            lists.iter().flat_map(|list| list.iter().map(|(id, _)| *id)).collect()
        };
        let created = ids(&[&this.new_groups, &this.new_arrays]);
        let deleted_later = ids(&[&later.deleted_groups, &later.deleted_arrays]);
        let gone = |id: &NodeId| created.contains(id) && deleted_later.contains(id);
        let keep = |list: &Vec<ChangedNode>, drop: &dyn Fn(&NodeId) -> bool| -> Vec<ChangedNode> {
            list.iter().filter(|(id, _)| !drop(id)).cloned().collect()
        };
        let updated_or_new = |id: &NodeId| deleted_later.contains(id) || created.contains(id);
        let mut log = TransactionLog {
            new_groups: [keep(&this.new_groups, &gone), later.new_groups.clone()].concat(),
            new_arrays: [keep(&this.new_arrays, &gone), later.new_arrays.clone()].concat(),
            deleted_groups: [this.deleted_groups.clone(), keep(&later.deleted_groups, &gone)].concat(),
            deleted_arrays: [this.deleted_arrays.clone(), keep(&later.deleted_arrays, &gone)].concat(),
            updated_groups: Vec::new(),
            updated_arrays: Vec::new(),
            updated_chunks: BTreeMap::new(),
            moved_nodes: compose_moves(&this.moved_nodes, &later.moved_nodes, &deleted_later),
        };
        for (list, mine, theirs) in [
            (&mut log.updated_groups, &this.updated_groups, &later.updated_groups),
            (&mut log.updated_arrays, &this.updated_arrays, &later.updated_arrays),
        ] {
            let mut seen = HashSet::new();
            for (id, path) in mine.iter().chain(theirs) {
                if !updated_or_new(id) && seen.insert(*id) {
                    list.push((*id, path.clone()));
                }
            }
        }
        for ((id, path), coords) in this.updated_chunks.iter().chain(&later.updated_chunks) {
            if !deleted_later.contains(id) {
                log.updated_chunks.entry((*id, path.clone())).or_default().extend(coords.iter().cloned());
            }
        }
        log
    }

    /// This log with every entry of a node in `moves` under the node's new path.
    fn with_paths_moved(&self, moves: &[MovedNode]) -> TransactionLog {
        let mut log = self.clone();
        if moves.is_empty() {
            return log;
        }
        let to: HashMap<NodeId, &str> = moves.iter().map(|m| (m.id, m.to.as_str())).collect();
        for list in
            [&mut log.new_groups, &mut log.new_arrays, &mut log.updated_groups, &mut log.updated_arrays]
        {
            for (id, path) in list.iter_mut() {
                if let Some(new_path) = to.get(id) {
                    *path = new_path.to_string();
                }
            }
        }
        log.updated_chunks = std::mem::take(&mut log.updated_chunks)
            .into_iter()
            .map(|((id, path), coords)| ((id, to.get(&id).map_or(path, |p| p.to_string())), coords))
            .collect();
        log
    }

    pub fn encode(&self, id: SnapshotId, zstd_level: i32) -> Result<Bytes> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(1024);
        macro_rules! nodes {
            ($list:expr) => {{
                let items: Vec<_> = $list
                    .iter()
                    .map(|(id, path)| {
                        let path = fbb.create_string(path);
                        fb::ChangedNode::create(
                            &mut fbb,
                            &fb::ChangedNodeArgs { id: Some(&id.to_fb()), path: Some(path) },
                        )
                    })
                    .collect();
                fbb.create_vector(&items)
            }};
        }
        let new_groups = nodes!(self.new_groups);
        let new_arrays = nodes!(self.new_arrays);
        let deleted_groups = nodes!(self.deleted_groups);
        let deleted_arrays = nodes!(self.deleted_arrays);
        let updated_groups = nodes!(self.updated_groups);
        let updated_arrays = nodes!(self.updated_arrays);
        let mut chunks = Vec::with_capacity(self.updated_chunks.len());
        for ((node_id, path), coords) in &self.updated_chunks {
            // An entry without chunks is never written (it would read as the chunk `[]`).
            if coords.is_empty() {
                continue;
            }
            let ndim = coords.iter().next().map_or(0, |c| c.len());
            let flat: Vec<u32> = coords.iter().flatten().copied().collect();
            let path = fbb.create_string(path);
            let flat = fbb.create_vector(&flat);
            chunks.push(fb::ChangedChunks::create(
                &mut fbb,
                &fb::ChangedChunksArgs {
                    node_id: Some(&node_id.to_fb()),
                    path: Some(path),
                    ndim: ndim as u32,
                    coords: Some(flat),
                },
            ));
        }
        let updated_chunks = fbb.create_vector(&chunks);
        // Written only when there are moves: logs without them stay as before the field.
        let moved_nodes = (!self.moved_nodes.is_empty()).then(|| {
            let items: Vec<_> = self
                .moved_nodes
                .iter()
                .map(|moved| {
                    let from_path = fbb.create_string(&moved.from);
                    let to_path = fbb.create_string(&moved.to);
                    fb::MovedNode::create(
                        &mut fbb,
                        &fb::MovedNodeArgs {
                            id: Some(&moved.id.to_fb()),
                            from_path: Some(from_path),
                            to_path: Some(to_path),
                        },
                    )
                })
                .collect();
            fbb.create_vector(&items)
        });
        let log = fb::TransactionLog::create(
            &mut fbb,
            &fb::TransactionLogArgs {
                id: Some(&id.to_fb()),
                new_groups: Some(new_groups),
                new_arrays: Some(new_arrays),
                deleted_groups: Some(deleted_groups),
                deleted_arrays: Some(deleted_arrays),
                updated_groups: Some(updated_groups),
                updated_arrays: Some(updated_arrays),
                updated_chunks: Some(updated_chunks),
                moved_nodes,
            },
        );
        fbb.finish_minimal(log);
        header::encode(ObjectType::TransactionLog, fbb.finished_data(), Some(zstd_level))
    }

    /// Decodes and checks a stored log (spec §7), returning the id it names and its content.
    /// Each `updated_chunks` entry has whole coordinates (`ndim` values each, at least one
    /// chunk, none repeated; `ndim` 0 stands for the chunk `[]`), and a node id appears at most
    /// once in `updated_chunks` (the node lists are taken as they are: diff keys them by id).
    pub fn decode(path: &str, stored: &[u8]) -> Result<(SnapshotId, Self)> {
        let buf = header::decode(path, ObjectType::TransactionLog, stored)?;
        let corrupt = |reason: String| IcechunkError::corrupt(path, reason);
        let log =
            flatbuffers::root_with_opts::<fb::TransactionLog>(&super::verifier_options(buf.len()), &buf)
                .map_err(|e| corrupt(format!("invalid transaction log: {e}")))?;
        let nodes = |v: flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::ChangedNode<'_>>>| {
            v.iter().map(|n| (NodeId::from_fb(n.id()), n.path().to_string())).collect::<Vec<_>>()
        };
        let mut updated_chunks = BTreeMap::new();
        let mut seen = HashSet::new();
        for entry in log.updated_chunks() {
            let node_id = NodeId::from_fb(entry.node_id());
            let node_path = entry.path();
            if !seen.insert(node_id) {
                return Err(corrupt(format!("node {node_id} appears twice in updated_chunks")));
            }
            let ndim = entry.ndim() as usize;
            let coords: BTreeSet<ChunkCoords> = if ndim == 0 {
                // A zero-dimensional array has one chunk, at the empty coordinates.
                std::iter::once(Vec::new()).collect()
            } else {
                let flat = entry.coords();
                if flat.is_empty() || !flat.len().is_multiple_of(ndim) {
                    return Err(corrupt(format!(
                        "{} chunk coordinates of `{node_path}` are not whole chunks of {ndim} dimensions",
                        flat.len()
                    )));
                }
                let flat: Vec<u32> = flat.iter().collect();
                let chunks = flat.len() / ndim;
                let coords: BTreeSet<ChunkCoords> = flat.chunks(ndim).map(<[u32]>::to_vec).collect();
                if coords.len() != chunks {
                    return Err(corrupt(format!("a chunk of `{node_path}` is listed twice")));
                }
                coords
            };
            updated_chunks.insert((node_id, node_path.to_string()), coords);
        }
        let mut moved_nodes = Vec::new();
        let mut moved_ids = HashSet::new();
        for moved in log.moved_nodes().iter().flatten() {
            let id = NodeId::from_fb(moved.id());
            if !moved_ids.insert(id) {
                return Err(corrupt(format!("node {id} appears twice in moved_nodes")));
            }
            moved_nodes.push(MovedNode { id, from: moved.from_path().into(), to: moved.to_path().into() });
        }
        let log_id = SnapshotId::from_fb(log.id());
        Ok((
            log_id,
            TransactionLog {
                new_groups: nodes(log.new_groups()),
                new_arrays: nodes(log.new_arrays()),
                deleted_groups: nodes(log.deleted_groups()),
                deleted_arrays: nodes(log.deleted_arrays()),
                updated_groups: nodes(log.updated_groups()),
                updated_arrays: nodes(log.updated_arrays()),
                updated_chunks,
                moved_nodes,
            },
        ))
    }
}

/// The moves of two commits in a row as one: per node, its first `from` and its last `to`;
/// a node back where it was, or deleted later, has no move.
fn compose_moves(
    first: &[MovedNode],
    later: &[MovedNode],
    deleted_later: &HashSet<NodeId>,
) -> Vec<MovedNode> {
    let mut moves: Vec<MovedNode> = first.to_vec();
    for moved in later {
        match moves.iter_mut().find(|m| m.id == moved.id) {
            Some(earlier) => earlier.to.clone_from(&moved.to),
            None => moves.push(moved.clone()),
        }
    }
    moves.retain(|m| m.from != m.to && !deleted_later.contains(&m.id));
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_logs_fold_into_one_by_node_id() {
        let [a, b, c, d] = [1u8, 2, 3, 4].map(|n| NodeId([n; 8]));
        let node = |id: NodeId, path: &str| (id, path.to_string());
        let first = TransactionLog {
            new_arrays: vec![node(a, "/a"), node(b, "/b")],
            updated_arrays: vec![node(c, "/c")],
            updated_chunks: BTreeMap::from([
                ((a, "/a".into()), BTreeSet::from([vec![0]])),
                ((c, "/c".into()), BTreeSet::from([vec![1]])),
            ]),
            ..Default::default()
        };
        let later = TransactionLog {
            deleted_arrays: vec![node(b, "/b"), node(c, "/c")],
            updated_arrays: vec![node(a, "/a"), node(d, "/d")],
            updated_chunks: BTreeMap::from([((a, "/a".into()), BTreeSet::from([vec![2]]))]),
            ..Default::default()
        };
        let folded = first.followed_by(&later);
        // b: created then deleted, nowhere. c: updated then deleted, deleted only. a: new.
        assert_eq!(folded.new_arrays, vec![node(a, "/a")]);
        assert_eq!(folded.deleted_arrays, vec![node(c, "/c")]);
        assert_eq!(folded.updated_arrays, vec![node(d, "/d")]);
        assert_eq!(
            folded.updated_chunks,
            BTreeMap::from([((a, "/a".into()), BTreeSet::from([vec![0], vec![2]]))])
        );
    }

    /// A log whose `updated_chunks` entries are (node id, ndim, flat coordinates), as given.
    fn raw(entries: &[(NodeId, u32, Vec<u32>)]) -> Vec<u8> {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let empty: Vec<flatbuffers::WIPOffset<fb::ChangedNode>> = Vec::new();
        let mut chunks = Vec::new();
        for (node_id, ndim, coords) in entries {
            let path = fbb.create_string("/a");
            let coords = fbb.create_vector(coords);
            chunks.push(fb::ChangedChunks::create(
                &mut fbb,
                &fb::ChangedChunksArgs {
                    node_id: Some(&node_id.to_fb()),
                    path: Some(path),
                    ndim: *ndim,
                    coords: Some(coords),
                },
            ));
        }
        let updated_chunks = Some(fbb.create_vector(&chunks));
        let nodes = Some(fbb.create_vector(&empty));
        let log = fb::TransactionLog::create(
            &mut fbb,
            &fb::TransactionLogArgs {
                id: Some(&SnapshotId::random().to_fb()),
                new_groups: nodes,
                new_arrays: nodes,
                deleted_groups: nodes,
                deleted_arrays: nodes,
                updated_groups: nodes,
                updated_arrays: nodes,
                updated_chunks,
                moved_nodes: None,
            },
        );
        fbb.finish_minimal(log);
        header::encode(ObjectType::TransactionLog, fbb.finished_data(), None).unwrap().to_vec()
    }

    #[test]
    fn chunk_coordinates_are_whole_and_unique() {
        let (a, b) = (NodeId::random(), NodeId::random());
        let (_, log) =
            TransactionLog::decode("t", &raw(&[(a, 2, vec![1, 2, 3, 4]), (b, 0, vec![])])).unwrap();
        assert_eq!(log.updated_chunks.len(), 2);
        assert_eq!(log.updated_chunks[&(b, "/a".to_string())], [vec![]].into_iter().collect());
        // ndim 0: the chunk [], whatever `coords` holds.
        let (_, log) = TransactionLog::decode("t", &raw(&[(a, 0, vec![7, 8])])).unwrap();
        assert_eq!(log.updated_chunks[&(a, "/a".to_string())], [vec![]].into_iter().collect());
        for (entries, reason) in [
            (vec![(a, 2, vec![1, 2, 3])], "whole chunks"),
            (vec![(a, 2, vec![])], "whole chunks"),
            (vec![(a, 2, vec![1, 2, 1, 2])], "listed twice"),
            (vec![(a, 1, vec![1]), (a, 1, vec![2])], "appears twice"),
        ] {
            match TransactionLog::decode("t", &raw(&entries)) {
                Err(e @ IcechunkError::Corrupt { .. }) => assert!(e.to_string().contains(reason), "{e}"),
                other => panic!("expected Corrupt ({reason}), got {other:?}"),
            }
        }
    }

    #[test]
    fn moves_compose_by_node_id() {
        let [a, b, c] = [1u8, 2, 3].map(|n| NodeId([n; 8]));
        let mv = |id, from: &str, to: &str| MovedNode { id, from: from.into(), to: to.into() };
        let first = TransactionLog {
            moved_nodes: vec![mv(a, "/a", "/b"), mv(b, "/x", "/y")],
            updated_arrays: vec![(c, "/c".into())],
            ..Default::default()
        };
        let later = TransactionLog {
            moved_nodes: vec![mv(a, "/b", "/c2"), mv(b, "/y", "/x"), mv(c, "/c", "/d")],
            ..Default::default()
        };
        let folded = first.followed_by(&later);
        // a: /a then /c2; b: back where it was; c: updated first, under its new path.
        assert_eq!(folded.moved_nodes, vec![mv(a, "/a", "/c2"), mv(c, "/c", "/d")]);
        assert_eq!(folded.updated_arrays, vec![(c, "/d".to_string())]);
    }

    #[test]
    fn entries_without_chunks_are_not_written() {
        let mut log = TransactionLog::default();
        log.updated_chunks.insert((NodeId::random(), "/a".into()), BTreeSet::new());
        let id = SnapshotId::random();
        let (_, decoded) = TransactionLog::decode("t", &log.encode(id, 3).unwrap()).unwrap();
        assert!(decoded.updated_chunks.is_empty());
    }

    #[test]
    fn round_trip() {
        let mut log = TransactionLog::default();
        let a = (NodeId::random(), "/a".to_string());
        log.new_arrays.push(a.clone());
        log.deleted_groups.push((NodeId::random(), "/g".to_string()));
        log.updated_chunks.insert(a, [vec![0, 1], vec![2, 3]].into_iter().collect());
        log.moved_nodes.push(MovedNode { id: NodeId::random(), from: "/m".into(), to: "/g2/m".into() });
        let id = SnapshotId::random();
        let decoded = TransactionLog::decode("t", &log.encode(id, 3).unwrap()).unwrap();
        assert_eq!(decoded, (id, log));
    }
}
