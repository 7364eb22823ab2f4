//! Moving an array's chunks to other positions of its chunk grid: `shift_array` and
//! `reindex_array` (Icechunk 2.3's verbs).
//!
//! A session holds chunks as references (to chunk objects, or inline bytes) filed under their
//! coordinates, so a move only re-files references in the change set: no chunk bytes are read,
//! copied or written, and the commit writes manifests and metadata only.
//!
//! The semantics are Icechunk 2.3's, checked against it:
//! - only existing chunks are visited, in coordinate order; `forward` gives each a new position,
//!   or `None` to leave it alone;
//! - every move takes the chunk as it was before the reindex (so permutations work); when two
//!   chunks land on one position, the later in coordinate order wins;
//! - moving a chunk does not clear where it came from; `backward` does: an existing position
//!   whose `backward` is `None`, or a position without a chunk, is cleared, unless a chunk
//!   moves into it;
//! - a position a chunk moves to counts as changed even when it is its own (2.3 lists it in
//!   `status`), while clearing a position without a chunk is no change.
//!
//! The work is split so that a binding can call mappings written in another language between
//! the I/O steps: [`Session::chunk_coordinates`] lists the chunks, [`plan_reindex`] calls the
//! mappings (no I/O) and [`Session::apply_reindex`] moves the references.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Session;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::ChunkRef;
use crate::ids::ChunkCoords;

/// What a reindex does to an array: chunk position -> the position whose chunk (as it was
/// before the reindex) it gets, or `None` to clear it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexPlan {
    pub targets: BTreeMap<ChunkCoords, Option<ChunkCoords>>,
}

/// A chunk mapping as a binding may give it: coordinates of any sign and length (checked
/// here), `None` for "no position", or the mapping's own error.
pub type Mapping<'a, E> = &'a mut dyn FnMut(&[u32]) -> std::result::Result<Option<Vec<i64>>, E>;

/// A chunk mapping as Rust callers give it: a position of the grid, or `None`.
pub type ChunkMapping<'a> = &'a mut dyn FnMut(&[u32]) -> Option<ChunkCoords>;

/// `coords` if it is a position of `grid` (chunks per dimension), else an invalid-input error
/// naming the mapping (`what`) and the chunk it was given (`from`).
fn in_grid(grid: &[u64], what: &str, from: &[u32], coords: &[i64]) -> Result<ChunkCoords> {
    let fits = coords.len() == grid.len()
        && coords.iter().zip(grid).all(|(c, n)| *c >= 0 && (*c as u64) < *n && *c <= u32::MAX as i64);
    if fits {
        return Ok(coords.iter().map(|c| *c as u32).collect());
    }
    let reason = if coords.len() == grid.len() {
        let last: Vec<i64> = grid.iter().map(|n| *n as i64 - 1).collect();
        format!("outside the array's chunk grid (from {:?} to {last:?})", vec![0; grid.len()])
    } else {
        format!("{} coordinates for an array of {} dimensions", coords.len(), grid.len())
    };
    Err(IcechunkError::InvalidInput(format!(
        "invalid chunk index: {what} maps chunk {from:?} to {coords:?}, {reason}"
    )))
}

/// Calls `forward` (and `backward`) on each of the `existing` chunk positions, in order, and
/// says what moves and what is cleared (see the module docs). `grid` is the number of chunks
/// per dimension ([`Session::chunk_grid`]); a position off it is an invalid-input error.
pub fn plan_reindex<E: From<IcechunkError>>(
    grid: &[u64],
    existing: &[ChunkCoords],
    forward: Mapping<'_, E>,
    backward: Option<Mapping<'_, E>>,
) -> std::result::Result<ReindexPlan, E> {
    let mut targets = BTreeMap::new();
    for from in existing {
        if let Some(to) = forward(from)? {
            targets.insert(in_grid(grid, "forward", from, &to)?, Some(from.clone()));
        }
    }
    if let Some(backward) = backward {
        let present: BTreeSet<&ChunkCoords> = existing.iter().collect();
        for at in existing {
            let source = match backward(at)? {
                Some(source) => Some(in_grid(grid, "backward", at, &source)?),
                None => None,
            };
            if !source.is_some_and(|s| present.contains(&s)) {
                // A chunk moving in wins over the clearing.
                targets.entry(at.clone()).or_insert(None);
            }
        }
    }
    Ok(ReindexPlan { targets })
}

impl Session {
    /// Chunks per dimension of the array at `path`; only regular chunk grids, where every
    /// position holds a chunk of one shape (elsewhere a moved chunk would change shape). For
    /// sharded arrays these are the shards: the chunks of the Zarr key space.
    pub fn chunk_grid(&self, path: &str) -> Result<Vec<u64>> {
        let path = self.array_path(path)?;
        let info = self.array_info(&path).ok_or_else(|| {
            IcechunkError::InvalidInput(format!("cannot read the metadata of the array `{path}`"))
        })?;
        let Some(chunk_shape) = &info.chunk_shape else {
            return Err(IcechunkError::InvalidInput(format!(
                "`{path}` does not have a regular chunk grid: only arrays with one can move chunks"
            )));
        };
        Ok(info
            .shape
            .iter()
            .zip(chunk_shape)
            .map(|(s, c)| if *c == 0 { 0 } else { s.div_ceil(*c) })
            .collect())
    }

    /// Moves chunk references of the array at `path` as `plan` says, all at once: every chunk
    /// is taken as it was before. All or nothing: a position off the grid changes nothing.
    pub async fn apply_reindex(&self, path: &str, plan: &ReindexPlan) -> Result<()> {
        const WHAT: &str = "moving chunks";
        self.check_can_write(WHAT)?;
        let path = self.array_path(path)?;
        let grid = self.chunk_grid(&path)?;
        let mut wanted: BTreeSet<&ChunkCoords> = BTreeSet::new();
        for (to, from) in &plan.targets {
            let signed = |c: &ChunkCoords| c.iter().map(|x| i64::from(*x)).collect::<Vec<_>>();
            in_grid(&grid, "the plan", to, &signed(to))?;
            wanted.insert(to);
            if let Some(from) = from {
                in_grid(&grid, "the plan", from, &signed(from))?;
                wanted.insert(from);
            }
        }
        // Base references of the positions involved; the session's own changes are read under
        // the lock below, so that the move sees one state of them.
        let base: BTreeMap<ChunkCoords, ChunkRef> = self
            .base_shards(&path)
            .await?
            .iter()
            .flat_map(|shard| shard.iter().filter(|(coords, _)| wanted.contains(coords)).collect::<Vec<_>>())
            .collect();
        self.check_can_write(WHAT)?; // a commit may have ended the session meanwhile
        let mut state = self.state();
        let current = |coords: &ChunkCoords| match state.changes.chunk(&path, coords) {
            Some(change) => change.clone(),
            None => base.get(coords).cloned(),
        };
        let updates: Vec<(ChunkCoords, Option<ChunkRef>)> = plan
            .targets
            .iter()
            .map(|(to, from)| (to.clone(), from.as_ref().and_then(&current)))
            .filter(|(to, chunk)| chunk.is_some() || current(to).is_some())
            .collect();
        for (to, chunk) in updates {
            Arc::make_mut(&mut state.changes).set_chunk(&path, to, chunk);
        }
        Ok(())
    }

    /// Moves each chunk of the array at `path` to `forward(coords)`, leaving those it maps to
    /// `None`; with `backward`, clears the positions nothing moves into (module docs).
    pub async fn reindex_array(
        &self,
        path: &str,
        forward: ChunkMapping<'_>,
        backward: Option<ChunkMapping<'_>>,
    ) -> Result<()> {
        self.check_can_write("moving chunks")?;
        let grid = self.chunk_grid(path)?;
        let existing = self.chunk_coordinates(path).await?;
        let signed = |c: Option<ChunkCoords>| Ok(c.map(|c| c.into_iter().map(i64::from).collect()));
        let mut forward = |c: &[u32]| signed(forward(c));
        let plan = match backward {
            Some(backward) => {
                let mut backward = |c: &[u32]| signed(backward(c));
                plan_reindex::<IcechunkError>(&grid, &existing, &mut forward, Some(&mut backward))?
            }
            None => plan_reindex::<IcechunkError>(&grid, &existing, &mut forward, None)?,
        };
        self.apply_reindex(path, &plan).await
    }

    /// Shifts every chunk of the array at `path` by `offset` chunks per dimension (positive:
    /// to higher indices). Chunks shifted off the grid are dropped; positions nothing shifts
    /// into are cleared (read as the fill value).
    pub async fn shift_array(&self, path: &str, offset: &[i64]) -> Result<()> {
        self.check_can_write("moving chunks")?;
        let grid = self.chunk_grid(path)?;
        if offset.len() != grid.len() {
            return Err(IcechunkError::InvalidInput(format!(
                "a chunk offset of {} values for an array of {} dimensions",
                offset.len(),
                grid.len()
            )));
        }
        let existing = self.chunk_coordinates(path).await?;
        // Off the grid is "no position" here: dropped going forward, cleared going backward.
        let shifted = |coords: &[u32], sign: i64| -> Option<Vec<i64>> {
            let moved: Vec<i64> = coords
                .iter()
                .zip(offset)
                .map(|(c, o)| i64::from(*c).saturating_add(sign.saturating_mul(*o)))
                .collect();
            moved.iter().zip(&grid).all(|(c, n)| *c >= 0 && (*c as u64) < *n).then_some(moved)
        };
        let mut forward = |c: &[u32]| Ok(shifted(c, 1));
        let mut backward = |c: &[u32]| Ok(shifted(c, -1));
        let plan = plan_reindex::<IcechunkError>(&grid, &existing, &mut forward, Some(&mut backward))?;
        self.apply_reindex(path, &plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Backward<'a> = &'a dyn Fn(&[u32]) -> Option<Vec<i64>>;

    fn plan(
        grid: &[u64],
        existing: &[&[u32]],
        forward: impl Fn(&[u32]) -> Option<Vec<i64>>,
        backward: Option<Backward<'_>>,
    ) -> Result<Vec<(ChunkCoords, Option<ChunkCoords>)>> {
        let existing: Vec<ChunkCoords> = existing.iter().map(|c| c.to_vec()).collect();
        let mut forward = |c: &[u32]| Ok(forward(c));
        let plan = match backward {
            Some(backward) => {
                let mut backward = |c: &[u32]| Ok(backward(c));
                plan_reindex::<IcechunkError>(grid, &existing, &mut forward, Some(&mut backward))?
            }
            None => plan_reindex::<IcechunkError>(grid, &existing, &mut forward, None)?,
        };
        Ok(plan.targets.into_iter().collect())
    }

    #[test]
    fn forward_only_moves_and_keeps_sources() {
        let up = |c: &[u32]| (c[0] < 3).then(|| vec![i64::from(c[0]) + 1]);
        let got = plan(&[4], &[&[0], &[1], &[2], &[3]], up, None).unwrap();
        assert_eq!(got, vec![(vec![1], Some(vec![0])), (vec![2], Some(vec![1])), (vec![3], Some(vec![2]))]);
        // Two chunks onto one position: the later wins.
        let got = plan(&[4], &[&[0], &[3]], |_| Some(vec![1]), None).unwrap();
        assert_eq!(got, vec![(vec![1], Some(vec![3]))]);
    }

    #[test]
    fn backward_clears_what_nothing_moves_into() {
        let up = |c: &[u32]| Some(vec![i64::from(c[0]) + 1]);
        let down = |c: &[u32]| c[0].checked_sub(1).map(|c| vec![i64::from(c)]);
        // Chunks at 0 and 2 of 4: 0 -> 1, 2 -> 3; 0 has no source, 2's source (1) had no chunk.
        let got = plan(&[4], &[&[0], &[2]], up, Some(&down)).unwrap();
        let want = vec![(vec![0], None), (vec![1], Some(vec![0])), (vec![2], None), (vec![3], Some(vec![2]))];
        assert_eq!(got, want);
        // A move wins over a clearing.
        let got = plan(&[4], &[&[0], &[1]], up, Some(&|_: &[u32]| None)).unwrap();
        assert_eq!(got, vec![(vec![0], None), (vec![1], Some(vec![0])), (vec![2], Some(vec![1]))]);
    }

    #[test]
    fn positions_off_the_grid_are_refused() {
        for bad in [vec![4], vec![-1], vec![0, 0], vec![]] {
            let err = plan(&[4], &[&[0]], |_| Some(bad.clone()), None).unwrap_err();
            assert!(err.to_string().contains("invalid chunk index"), "{err}");
        }
        let err = plan(&[4], &[&[0]], |_| None, Some(&|_: &[u32]| Some(vec![7]))).unwrap_err();
        assert!(err.to_string().contains("backward"), "{err}");
        assert!(plan(&[2, 3], &[&[1, 2]], |_| Some(vec![0, 2]), None).is_ok());
    }
}
