//! What commands print: aligned tables and `key: value` lines for people, or with `--json`
//! one JSON document (its keys are documented in README.md, "Command line").

use std::io::Write;

use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::error::CliResult;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `document` with `--json`, else what `human` renders.
    pub fn show(&self, document: Value, human: impl FnOnce() -> String) -> CliResult {
        if self.json {
            print(&format!("{}\n", serde_json::to_string_pretty(&document).expect("JSON values print")))
        } else {
            let text = human();
            if text.is_empty() {
                return Ok(());
            }
            print(&if text.ends_with('\n') { text } else { format!("{text}\n") })
        }
    }
}

/// Writes to stdout; a closed stdout (`| head`) ends the command quietly (see `CliError`).
pub fn print(text: &str) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Columns aligned with spaces, a header row, no borders (easy to read and to `grep`/`awk`).
/// Columns named in `right` are right-aligned (numbers).
pub fn table(header: &[&str], rows: Vec<Vec<String>>, right: &[&str]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    for (index, name) in header.iter().enumerate() {
        if right.contains(name) {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    // The preset pads every cell with one space on each side: drop the leading one.
    table.lines().map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(&line).trim_end())).collect()
}

/// A progress bar on stderr for long runs (`fsck`, `gc`), drawn only when stderr is a
/// terminal (indicatif hides it otherwise), so pipes and logs get none of it.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn on_stderr() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        Progress { bar }
    }

    /// `done` of `total` steps of `phase`; a total of 0 is one not known yet (the snapshots
    /// of a history are found as it is walked): the count so far stands in for it.
    pub fn update(&self, phase: &'static str, done: u64, total: u64) {
        if self.bar.prefix() != phase {
            self.bar.set_prefix(phase);
        }
        self.bar.set_length(if total > 0 { total } else { done });
        self.bar.set_position(done);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    pairs.iter().map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:"), width = width)).collect()
}

/// Bytes as people read them: 1.5 MiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let text = table(
            &["name", "count"],
            vec![vec!["a".into(), "5".into()], vec!["longer".into(), "12".into()]],
            &["count"],
        );
        assert_eq!(text, "NAME    COUNT\na           5\nlonger     12\n");
        assert_eq!(table(&["x"], vec![], &[]), "");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(fields(&[("a", "1".into()), ("bcd", "2".into())]), "a:   1\nbcd: 2\n");
    }
}
