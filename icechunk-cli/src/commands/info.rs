//! `icechunk info REPO`: what a repository is, in one screen.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use icechunk::repo_info::Availability;
use icechunk::Repository;

use crate::error::CliResult;
use crate::output::{self, Output};

pub async fn run(repo: &Repository, out: Output) -> CliResult {
    let (branches, tags) = futures::try_join!(repo.list_branches(), repo.list_tags())?;
    // All refs at once: one round trip per ref in parallel, not one after another.
    let (tips, targets) = futures::try_join!(
        futures::future::try_join_all(branches.iter().map(|name| repo.lookup_branch(name))),
        futures::future::try_join_all(tags.iter().map(|name| repo.lookup_tag(name)))
    )?;
    let branch_tips: BTreeMap<String, String> =
        branches.iter().cloned().zip(tips.iter().map(ToString::to_string)).collect();
    let tag_targets: BTreeMap<String, String> =
        tags.iter().cloned().zip(targets.iter().map(ToString::to_string)).collect();
    let (status, metadata, snapshots, stats) = futures::try_join!(
        repo.status(),
        repo.metadata(),
        repo.reachable_snapshots(),
        repo.chunk_storage_stats(32)
    )?;
    let availability = match status.availability {
        Availability::Online => "online",
        Availability::ReadOnly => "read-only",
    };
    let config = serde_json::to_value(repo.config()).unwrap_or(Value::Null);
    let document = json!({
        "location": repo.storage().location(),
        "status": {"availability": availability, "set_at": status.set_at, "reason": status.reason},
        "branches": branch_tips,
        "tags": tag_targets,
        "snapshot_count": snapshots.len(),
        "chunk_bytes": {
            "native": stats.native_bytes,
            "inline": stats.inlined_bytes,
            "virtual": stats.virtual_bytes,
        },
        "metadata": metadata,
        "config": config.clone(),
    });
    out.show(document, || {
        let mut text = output::fields(&[
            ("location", repo.storage().location()),
            (
                "status",
                match &status.reason {
                    Some(reason) => format!("{availability} ({reason})"),
                    None => availability.to_string(),
                },
            ),
            ("snapshots", format!("{} reachable from refs", snapshots.len())),
            ("branches", branches.len().to_string()),
            ("tags", tags.len().to_string()),
            (
                "chunk bytes",
                format!(
                    "{} in chunk objects, {} inline, {} in virtual files",
                    output::bytes(stats.native_bytes),
                    output::bytes(stats.inlined_bytes),
                    output::bytes(stats.virtual_bytes)
                ),
            ),
            ("metadata", Value::Object(metadata.clone()).to_string()),
            ("config", config.to_string()),
        ]);
        let rows = branch_tips
            .iter()
            .map(|(name, id)| vec!["branch".into(), name.clone(), id.clone()])
            .chain(tag_targets.iter().map(|(name, id)| vec!["tag".into(), name.clone(), id.clone()]))
            .collect();
        text.push('\n');
        text.push_str(&output::table(&["ref", "name", "snapshot"], rows, &[]));
        text
    })
}
