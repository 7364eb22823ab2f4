//! `icechunk fsck REPO`: every object reachable from every ref present and verified. Exit
//! code 1, with the list of what is wrong, when anything is.

use serde_json::json;

use icechunk::repository::{FsckOptions, FsckProgress, FsckReport};
use icechunk::Repository;

use crate::error::{CliError, CliResult};
use crate::output::{self, Output, Progress};

pub async fn run(repo: &Repository, out: Output, concurrency: usize) -> CliResult {
    let bar = Progress::on_stderr();
    let progress = |p: FsckProgress| bar.update(p.phase, p.done, p.total);
    let report = repo.fsck(&FsckOptions { concurrency: concurrency.max(1) }, Some(&progress)).await?;
    bar.finish();
    let clean = report.is_clean();
    out.show(json!({"clean": clean, "report": report}), || human(&report))?;
    if clean {
        Ok(())
    } else {
        Err(CliError::Reported)
    }
}

fn human(report: &FsckReport) -> String {
    let mut text = output::fields(&[
        ("refs", report.refs_checked.to_string()),
        ("snapshots", report.snapshots_checked.to_string()),
        ("transaction logs", report.transaction_logs_checked.to_string()),
        ("manifests", report.manifests_checked.to_string()),
        ("chunk objects", report.chunk_objects_checked.to_string()),
        ("chunk references", report.chunk_refs_checked.to_string()),
        (
            "virtual references",
            format!("{} (not checked: outside the repository)", report.virtual_refs_not_checked),
        ),
        ("bytes read", output::bytes(report.bytes_read)),
    ]);
    if report.is_clean() {
        text.push_str("\nno problems found\n");
    } else {
        text.push_str(&format!("\n{} problems:\n", report.problems.len()));
        let rows = report
            .problems
            .iter()
            .map(|p| vec![p.object.clone(), p.problem.clone(), p.reachable_from.clone()])
            .collect();
        text.push_str(&output::table(&["object", "problem", "reachable from"], rows, &[]));
    }
    text
}
