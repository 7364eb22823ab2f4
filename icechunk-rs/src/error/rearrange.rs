//! Why a move (`Session::move_node`) or a write in a rearrange session was refused. The
//! variants are Icechunk 2.3's error kinds of the same names; `kind()` gives the family its
//! exception class belongs to there.

use super::ErrorKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RearrangeError {
    /// `move` in a session that was not opened with `Repository::rearrange_session`.
    #[error(
        "to move nodes open a rearrange session (Repository.rearrange_session); \
         commit or discard this session first"
    )]
    NonRearrangeSession,
    /// Another write in a rearrange session.
    #[error(
        "this session rearranges the hierarchy and takes moves only: {0} needs a writable session \
         (commit or discard this one first)"
    )]
    RearrangeSessionOnly(String),
    #[error("move cannot overwrite the existing node at `{to}`")]
    MoveWontOverwrite { to: String },
    #[error(
        "cannot move to `{to}`: its parent group `{parent}` does not exist; create it in a \
         writable session and commit, then move"
    )]
    MoveDestinationParentMissing { to: String, parent: String },
    #[error("cannot move to `{to}`: its parent `{parent}` is an array, not a group")]
    MoveDestinationParentNotGroup { to: String, parent: String },
    #[error("cannot move `{from}` into itself or its own descendant `{to}`")]
    MoveIntoSelfOrDescendant { from: String, to: String },
}

impl RearrangeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RearrangeError::MoveWontOverwrite { .. } => ErrorKind::AlreadyExists,
            _ => ErrorKind::SessionState,
        }
    }

    /// Icechunk's name of the error kind (`ErrorKind.MOVE_WONT_OVERWRITE` is
    /// "move-wont-overwrite").
    pub fn code(&self) -> &'static str {
        match self {
            RearrangeError::NonRearrangeSession => "non-rearrange-session",
            RearrangeError::RearrangeSessionOnly(_) => "rearrange-session-only",
            RearrangeError::MoveWontOverwrite { .. } => "move-wont-overwrite",
            RearrangeError::MoveDestinationParentMissing { .. } => "move-destination-parent-missing",
            RearrangeError::MoveDestinationParentNotGroup { .. } => "move-destination-parent-not-group",
            RearrangeError::MoveIntoSelfOrDescendant { .. } => "move-into-self-or-descendant",
        }
    }
}
