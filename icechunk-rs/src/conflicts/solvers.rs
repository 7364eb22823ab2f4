//! Conflict solvers: what a rebase does with each conflict it finds.

use super::{drop_our_chunks, Conflict};
use crate::change_set::ChangeSet;

/// Decides every conflict of one rebase step; returns the conflicts it could not solve.
pub trait ConflictSolver: Send + Sync + std::fmt::Debug {
    fn solve(&self, conflicts: Vec<Conflict>, ours: &mut ChangeSet) -> Vec<Conflict>;
}

/// Solves nothing: any conflict fails the rebase.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConflictDetector;

impl ConflictSolver for ConflictDetector {
    fn solve(&self, conflicts: Vec<Conflict>, _ours: &mut ChangeSet) -> Vec<Conflict> {
        conflicts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionSelection {
    /// Keep our write of a chunk both sides wrote.
    UseOurs,
    /// Keep their write: drop ours.
    UseTheirs,
    #[default]
    Fail,
}

/// Solves chunk double-writes per `on_chunk_conflict`, and lets our deletes of updated
/// nodes win unless told to fail; every other conflict fails.
#[derive(Debug, Clone, Copy)]
pub struct BasicConflictSolver {
    pub on_chunk_conflict: VersionSelection,
    pub fail_on_delete_of_updated_array: bool,
    pub fail_on_delete_of_updated_group: bool,
}

impl Default for BasicConflictSolver {
    fn default() -> Self {
        BasicConflictSolver {
            on_chunk_conflict: VersionSelection::UseOurs,
            fail_on_delete_of_updated_array: false,
            fail_on_delete_of_updated_group: false,
        }
    }
}

impl ConflictSolver for BasicConflictSolver {
    fn solve(&self, conflicts: Vec<Conflict>, ours: &mut ChangeSet) -> Vec<Conflict> {
        let mut unsolved = Vec::new();
        for conflict in conflicts {
            match (&conflict, self.on_chunk_conflict) {
                (Conflict::ChunkDoubleUpdate { .. }, VersionSelection::UseOurs) => {}
                (
                    Conflict::ChunkDoubleUpdate { path, chunk_coordinates, .. },
                    VersionSelection::UseTheirs,
                ) => drop_our_chunks(ours, path, chunk_coordinates),
                (Conflict::DeleteOfUpdatedArray { .. }, _) if !self.fail_on_delete_of_updated_array => {}
                (Conflict::DeleteOfUpdatedGroup { .. }, _) if !self.fail_on_delete_of_updated_group => {}
                _ => unsolved.push(conflict),
            }
        }
        unsolved
    }
}
