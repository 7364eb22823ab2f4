//! `icechunk diff REPO FROM TO`: what changed between two versions.

use serde_json::json;

use icechunk::{Diff, Repository};

use crate::error::CliResult;
use crate::output::{self, Output};
use crate::refs::resolve;

pub async fn run(repo: &Repository, out: Output, from: &str, to: &str) -> CliResult {
    let (from, to) = futures::try_join!(resolve(repo, from), resolve(repo, to))?;
    let diff = repo.diff(&from, &to).await?;
    out.show(document(&diff), || human(&diff))
}

fn document(diff: &Diff) -> serde_json::Value {
    json!({
        "new_groups": diff.new_groups,
        "new_arrays": diff.new_arrays,
        "deleted_groups": diff.deleted_groups,
        "deleted_arrays": diff.deleted_arrays,
        "updated_groups": diff.updated_groups,
        "updated_arrays": diff.updated_arrays,
        "updated_chunks": diff.updated_chunks,
        "moved_nodes": diff.moved_nodes.iter().map(|(from, to)| json!({"from": from, "to": to})).collect::<Vec<_>>(),
    })
}

/// One row per changed node: what happened to it, and how many chunks changed.
fn human(diff: &Diff) -> String {
    if diff.is_empty() {
        return "no changes".to_string();
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |change: &str, kind: &str, path: &str, chunks: String| {
        rows.push(vec![change.to_string(), kind.to_string(), path.to_string(), chunks]);
    };
    for path in &diff.new_groups {
        add("added", "group", path, String::new());
    }
    for path in &diff.new_arrays {
        add("added", "array", path, chunk_count(diff, path));
    }
    for path in &diff.deleted_groups {
        add("deleted", "group", path, String::new());
    }
    for path in &diff.deleted_arrays {
        add("deleted", "array", path, String::new());
    }
    for path in &diff.updated_groups {
        add("metadata", "group", path, String::new());
    }
    for path in &diff.updated_arrays {
        add("metadata", "array", path, chunk_count(diff, path));
    }
    for path in diff.updated_chunks.keys() {
        if !diff.new_arrays.contains(path) && !diff.updated_arrays.contains(path) {
            add("chunks", "array", path, chunk_count(diff, path));
        }
    }
    for (from, to) in &diff.moved_nodes {
        add("moved", "node", &format!("{from} -> {to}"), String::new());
    }
    output::table(&["change", "kind", "path", "chunks"], rows, &["chunks"])
}

fn chunk_count(diff: &Diff, path: &str) -> String {
    diff.updated_chunks.get(path).map(|c| c.len().to_string()).unwrap_or_default()
}
