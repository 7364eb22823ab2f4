//! `icechunk gc` and `icechunk expire`: dry runs unless `--yes`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use icechunk::repository::{GcOptions, GcProgress};
use icechunk::Repository;

use crate::error::CliResult;
use crate::output::{self, Output, Progress};

pub async fn gc(repo: &Repository, out: Output, older_than: DateTime<Utc>, yes: bool) -> CliResult {
    let mut options = GcOptions::new(older_than);
    options.dry_run = !yes;
    let bar = Progress::on_stderr();
    let shown = bar.clone();
    options.progress = Some(Arc::new(move |p: GcProgress| shown.update(p.phase, p.done, p.total)));
    let summary = repo.garbage_collect(&options).await;
    bar.finish();
    let summary = summary?;
    let document = json!({
        "dry_run": !yes,
        "older_than": older_than.to_rfc3339(),
        "bytes_deleted": summary.bytes_deleted,
        "chunks_deleted": summary.chunks_deleted,
        "manifests_deleted": summary.manifests_deleted,
        "snapshots_deleted": summary.snapshots_deleted,
        "transaction_logs_deleted": summary.transaction_logs_deleted,
        "objects_failed_to_delete": summary.objects_failed_to_delete,
        "delete_errors": summary.delete_errors,
        "skipped_phases": summary.skipped_phases,
        "objects_kept_for_sessions": summary.objects_kept_for_sessions,
    });
    out.show(document, || {
        let verb = if yes { "deleted" } else { "would delete (dry run: add --yes to delete)" };
        let mut text =
            format!("objects unreachable from every ref and written before {older_than}: {verb}\n");
        text.push_str(&output::fields(&[
            ("chunks", summary.chunks_deleted.to_string()),
            ("manifests", summary.manifests_deleted.to_string()),
            ("snapshots", summary.snapshots_deleted.to_string()),
            ("transaction logs", summary.transaction_logs_deleted.to_string()),
            ("bytes", output::bytes(summary.bytes_deleted)),
            ("kept for open sessions", summary.objects_kept_for_sessions.to_string()),
        ]));
        if summary.objects_failed_to_delete > 0 {
            text.push_str(&format!(
                "{} deletes failed (a later run retries them): {}\n",
                summary.objects_failed_to_delete,
                summary.delete_errors.join("; ")
            ));
        }
        text
    })?;
    if summary.objects_failed_to_delete > 0 {
        return Err(crate::error::CliError::Reported);
    }
    Ok(())
}

pub struct ExpireFlags {
    pub delete_expired_branches: bool,
    pub delete_expired_tags: bool,
    pub yes: bool,
}

pub async fn expire(
    repo: &Repository,
    out: Output,
    older_than: DateTime<Utc>,
    flags: ExpireFlags,
) -> CliResult {
    let report = repo
        .expire_snapshots_report(
            older_than,
            flags.delete_expired_branches,
            flags.delete_expired_tags,
            !flags.yes,
        )
        .await?;
    let expired: Vec<String> = report.expired.iter().map(ToString::to_string).collect();
    let document = json!({
        "dry_run": !flags.yes,
        "older_than": older_than.to_rfc3339(),
        "expired_snapshots": expired,
        "deleted_branches": report.deleted_branches,
        "deleted_tags": report.deleted_tags,
    });
    out.show(document, || {
        let verb = if flags.yes { "expired" } else { "would expire (dry run: add --yes to expire)" };
        let mut text = format!("snapshots written before {older_than}: {} {verb}\n", expired.len());
        let deleted = if flags.yes { "deleted" } else { "to delete" };
        if !report.deleted_branches.is_empty() {
            text.push_str(&format!("branches {deleted}: {}\n", report.deleted_branches.join(", ")));
        }
        if !report.deleted_tags.is_empty() {
            text.push_str(&format!("tags {deleted}: {}\n", report.deleted_tags.join(", ")));
        }
        if flags.yes && !expired.is_empty() {
            text.push_str("their objects go at the next `icechunk gc`\n");
        }
        text
    })
}
