//! Rearrange sessions: moving (renaming) groups and arrays with their subtrees.
//!
//! A move changes paths only. Snapshots name a node's chunks through the node itself (its
//! shards carry its node id), so the moved nodes keep their ids, metadata and shards, and no
//! chunk or manifest is read or written. The session applies each move to its view of the base
//! snapshot (same id, nodes under new paths): everything that reads the session, and the commit,
//! see the moved hierarchy; the change set records each moved node's path in the stored base
//! and its path now, which becomes the commit's `moved_nodes` (spec §7).

use std::sync::Arc;

use super::Session;
use crate::error::{IcechunkError, RearrangeError, Result};
use crate::format::snapshot::{Node, Snapshot};

/// `Ok` for a node path ("/" or "/a/b": no empty, "." or ".." segment).
fn check_path(path: &str) -> Result<()> {
    let valid = path == "/"
        || (path.starts_with('/') && path[1..].split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
    if valid {
        Ok(())
    } else {
        Err(IcechunkError::InvalidInput(format!(
            "`{path}` is not a node path: paths start with `/`, as `/group/array`"
        )))
    }
}

/// The parent path of a node path other than the root.
fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `path` is `ancestor` or below it.
fn is_self_or_descendant(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || path.strip_prefix(ancestor).is_some_and(|rest| rest.starts_with('/'))
}

impl Session {
    pub fn is_rearrange(&self) -> bool {
        self.inner.rearrange
    }

    /// `check_writable`, and not in a rearrange session (which only moves).
    pub fn check_can_write(&self, what: &str) -> Result<()> {
        self.check_writable()?;
        if self.inner.rearrange {
            return Err(RearrangeError::RearrangeSessionOnly(what.to_string()).into());
        }
        Ok(())
    }

    /// Moves the group or array at `from`, with everything below it, to `to`: a rename that
    /// keeps node ids and chunks (no chunk bytes are copied). Only in a rearrange session. `to`
    /// must not exist and its parent must be a group; `from` cannot move into itself.
    pub fn move_node(&self, from: &str, to: &str) -> Result<()> {
        self.check_writable()?;
        if !self.inner.rearrange {
            return Err(RearrangeError::NonRearrangeSession.into());
        }
        check_path(from)?;
        check_path(to)?;
        if is_self_or_descendant(to, from) {
            let (from, to) = (from.to_string(), to.to_string());
            return Err(RearrangeError::MoveIntoSelfOrDescendant { from, to }.into());
        }
        let mut state = self.state();
        let base = state.base.clone();
        if base.node(from).is_none() {
            return Err(IcechunkError::NodeNotFound { path: from.to_string() });
        }
        if base.node(to).is_some() {
            return Err(RearrangeError::MoveWontOverwrite { to: to.to_string() }.into());
        }
        let parent = parent_of(to);
        match base.node(parent) {
            Some(node) if node.is_array() => {
                let (to, parent) = (to.to_string(), parent.to_string());
                return Err(RearrangeError::MoveDestinationParentNotGroup { to, parent }.into());
            }
            Some(_) => {}
            // The root group may be implicit (a node's parent need not be a node, spec §5).
            None if parent == "/" => {}
            None => {
                let (to, parent) = (to.to_string(), parent.to_string());
                return Err(RearrangeError::MoveDestinationParentMissing { to, parent }.into());
            }
        }

        let moving: Vec<Arc<Node>> = base
            .nodes
            .range(from.to_string()..)
            .take_while(|(path, _)| path.starts_with(from))
            .filter(|(path, _)| is_self_or_descendant(path, from))
            .map(|(_, node)| node.clone())
            .collect();
        let mut view: Snapshot = (*base).clone();
        for node in &moving {
            view.nodes.remove(&node.path);
        }
        for node in moving {
            let new_path = format!("{to}{}", &node.path[from.len()..]);
            let moved = Node { path: new_path.clone(), ..(*node).clone() };
            view.nodes.insert(new_path.clone(), Arc::new(moved));
            Arc::make_mut(&mut state.changes).record_move(node.id, &node.path, new_path);
        }
        state.unmoved_base.get_or_insert(base);
        state.base = Arc::new(view);
        state.array_infos.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(check_path("/").is_ok() && check_path("/a/b").is_ok());
        for bad in ["", "a", "/a/", "//a", "/a/../b", "/."] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b/c"), "/a/b");
        assert!(is_self_or_descendant("/a/b", "/a") && is_self_or_descendant("/a", "/a"));
        assert!(!is_self_or_descendant("/ab", "/a") && is_self_or_descendant("/x", "/"));
    }
}
