//! `icechunk branch ...` and `icechunk tag ...`.

use serde_json::json;

use icechunk::{Repository, SnapshotId};

use crate::error::CliResult;
use crate::output::{self, Output};
use crate::refs::{checked_name, resolve_or_main};

pub async fn list_branches(repo: &Repository, out: Output) -> CliResult {
    let names = repo.list_branches().await?;
    let tips = futures::future::try_join_all(names.iter().map(|name| repo.lookup_branch(name))).await?;
    let listed = names.into_iter().zip(tips).collect();
    show_list(out, "branch", listed)
}

pub async fn list_tags(repo: &Repository, out: Output) -> CliResult {
    let names = repo.list_tags().await?;
    let targets = futures::future::try_join_all(names.iter().map(|name| repo.lookup_tag(name))).await?;
    let listed = names.into_iter().zip(targets).collect();
    show_list(out, "tag", listed)
}

pub async fn create_branch(repo: &Repository, out: Output, name: &str, from: Option<&str>) -> CliResult {
    let name = checked_name(name)?;
    let snapshot = target(repo, from).await?;
    repo.create_branch(name, &snapshot).await?;
    done(out, "created branch", name, Some(snapshot))
}

pub async fn delete_branch(repo: &Repository, out: Output, name: &str) -> CliResult {
    let name = checked_name(name)?;
    repo.delete_branch(name).await?;
    done(out, "deleted branch", name, None)
}

pub async fn reset_branch(repo: &Repository, out: Output, name: &str, to: &str) -> CliResult {
    let name = checked_name(name)?;
    let snapshot = target(repo, Some(to)).await?;
    repo.reset_branch(name, &snapshot, None).await?;
    done(out, "reset branch", name, Some(snapshot))
}

pub async fn create_tag(repo: &Repository, out: Output, name: &str, from: Option<&str>) -> CliResult {
    let name = checked_name(name)?;
    let snapshot = target(repo, from).await?;
    repo.create_tag(name, &snapshot).await?;
    done(out, "created tag", name, Some(snapshot))
}

pub async fn delete_tag(repo: &Repository, out: Output, name: &str) -> CliResult {
    let name = checked_name(name)?;
    repo.delete_tag(name).await?;
    done(out, "deleted tag", name, None)
}

/// The snapshot a REF names (the tip of main without one).
async fn target(repo: &Repository, text: Option<&str>) -> CliResult<SnapshotId> {
    let version = resolve_or_main(repo, text).await?;
    Ok(repo.resolve_version(&version).await?)
}

fn show_list(out: Output, kind: &str, listed: Vec<(String, SnapshotId)>) -> CliResult {
    let document = json!(listed
        .iter()
        .map(|(name, id)| json!({"name": name, "snapshot_id": id.to_string()}))
        .collect::<Vec<_>>());
    out.show(document, || {
        let rows = listed.iter().map(|(name, id)| vec![name.clone(), id.to_string()]).collect();
        output::table(&[kind, "snapshot"], rows, &[])
    })
}

fn done(out: Output, what: &str, name: &str, snapshot: Option<SnapshotId>) -> CliResult {
    let snapshot = snapshot.map(|id| id.to_string());
    out.show(json!({"name": name, "snapshot_id": snapshot}), || match &snapshot {
        Some(id) => format!("{what} {name} at {id}"),
        None => format!("{what} {name}"),
    })
}
