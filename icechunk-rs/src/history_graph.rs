//! A drawing of history, as `git log --graph` draws it: one row per snapshot, newest first,
//! one lane per line of history that is still open, a lane closing where two branches meet
//! at their common ancestor. History here is a tree (a snapshot has at most one parent), so
//! lanes only ever join, never fork.
//!
//! [`layout`] places the snapshots; [`render_text`] and [`render_svg`] draw the layout. Both
//! are pure, so the binding and the command line draw the same thing.

use std::collections::{HashMap, HashSet};

use crate::history::SnapshotInfo;
use crate::ids::SnapshotId;

/// A name pointing at a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefLabel {
    Branch(String),
    Tag(String),
}

/// One snapshot's row: its lane, the lanes open beside it, and the lanes that end in it
/// (other branches whose history continues in this snapshot's).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub info: SnapshotInfo,
    pub labels: Vec<RefLabel>,
    pub lane: usize,
    /// Lanes open on this row (the snapshot's own included).
    pub open: Vec<usize>,
    /// Lanes, right of `lane`, that join it here.
    pub joined: Vec<usize>,
    /// Whether the snapshot's lane continues below (it has a parent in the drawing).
    pub continues: bool,
}

/// Lays out `snapshots` (every one the drawing shows, with their parents among them or
/// absent) starting from `tips`, in lane order (the first tip gets the leftmost lane).
/// Children come before their parents; otherwise newer before older.
pub fn layout(
    tips: &[SnapshotId],
    snapshots: &HashMap<SnapshotId, SnapshotInfo>,
    labels: &HashMap<SnapshotId, Vec<RefLabel>>,
) -> Vec<Row> {
    let order = newest_first(snapshots);
    // lanes[i]: the snapshot lane i waits for, None when free.
    let mut lanes: Vec<Option<SnapshotId>> = Vec::new();
    let mut seen_tips = HashSet::new();
    for tip in tips {
        if snapshots.contains_key(tip) && seen_tips.insert(*tip) {
            lanes.push(Some(*tip));
        }
    }
    let mut rows = Vec::with_capacity(order.len());
    for id in order {
        let info = snapshots[&id].clone();
        let waiting: Vec<usize> = (0..lanes.len()).filter(|&i| lanes[i].as_ref() == Some(&id)).collect();
        let lane = match waiting.first() {
            Some(&lane) => lane,
            None => free_lane(&mut lanes),
        };
        let joined: Vec<usize> = waiting.iter().copied().filter(|&l| l != lane).collect();
        let open: Vec<usize> = (0..lanes.len()).filter(|&i| lanes[i].is_some() || i == lane).collect();
        for &l in &joined {
            lanes[l] = None;
        }
        let parent = info.parent_id.filter(|p| snapshots.contains_key(p));
        let continues = parent.is_some();
        lanes[lane] = parent;
        while lanes.last().is_some_and(Option::is_none) {
            lanes.pop();
        }
        let labels = labels.get(&id).cloned().unwrap_or_default();
        rows.push(Row { info, labels, lane, open, joined, continues });
    }
    rows
}

fn free_lane(lanes: &mut Vec<Option<SnapshotId>>) -> usize {
    match lanes.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            lanes.push(None);
            lanes.len() - 1
        }
    }
}

/// Every snapshot after all of its children; among those ready, the newest first.
fn newest_first(snapshots: &HashMap<SnapshotId, SnapshotInfo>) -> Vec<SnapshotId> {
    let mut children: HashMap<&SnapshotId, usize> = HashMap::new();
    for info in snapshots.values() {
        if let Some(parent) = info.parent_id.as_ref().filter(|p| snapshots.contains_key(*p)) {
            *children.entry(parent).or_default() += 1;
        }
    }
    let key = |id: &SnapshotId| (snapshots[id].written_at, id.to_string());
    let mut ready: Vec<&SnapshotId> = snapshots.keys().filter(|id| !children.contains_key(id)).collect();
    let mut order = Vec::with_capacity(snapshots.len());
    while !ready.is_empty() {
        // The newest ready snapshot (ties broken by id, for a stable drawing).
        let (at, _) = ready.iter().enumerate().max_by_key(|(_, id)| key(id)).expect("not empty");
        let id = ready.swap_remove(at);
        order.push(*id);
        if let Some(parent) = snapshots[id].parent_id.as_ref() {
            if let Some(left) = children.get_mut(parent) {
                *left -= 1;
                if *left == 0 {
                    ready.push(snapshots.get_key_value(parent).expect("present").0);
                }
            }
        }
    }
    order
}

/// 24-bit colors of the lanes, in turn.
const PALETTE: [(u8, u8, u8); 6] =
    [(183, 228, 0), (166, 83, 255), (94, 196, 247), (255, 159, 67), (255, 99, 132), (46, 204, 113)];

fn paint(text: &str, lane: usize, ansi: bool) -> String {
    if !ansi {
        return text.to_string();
    }
    let (r, g, b) = PALETTE[lane % PALETTE.len()];
    format!("\x1b[38;2;{r};{g};{b}m{text}\x1b[0m")
}

fn short_id(id: &SnapshotId) -> String {
    id.to_string().chars().take(8).collect()
}

fn label_text(labels: &[RefLabel]) -> String {
    let names: Vec<String> = labels
        .iter()
        .map(|l| match l {
            RefLabel::Branch(name) => name.clone(),
            RefLabel::Tag(name) => format!("tag: {name}"),
        })
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("({}) ", names.join(", "))
    }
}

/// The drawing as lines of text; 24-bit ANSI colors per lane when `ansi`.
pub fn render_text(rows: &[Row], ansi: bool) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let width = row.open.iter().chain(&row.joined).copied().max().unwrap_or(0) + 1;
        let last_join = row.joined.iter().copied().max();
        let mut line = String::new();
        for lane in 0..width {
            let cell = if lane == row.lane {
                paint("●", lane, ansi)
            } else if row.joined.contains(&lane) {
                paint("╯", lane, ansi)
            } else if row.open.contains(&lane) {
                paint("│", lane, ansi)
            } else {
                " ".to_string()
            };
            line.push_str(&cell);
            let joining = last_join.is_some_and(|j| lane >= row.lane && lane < j);
            let gap = if joining { paint("─", last_join.unwrap_or(lane), ansi) } else { " ".to_string() };
            if lane + 1 < width {
                line.push_str(&gap);
            }
        }
        let message = row.info.message.lines().next().unwrap_or("");
        let id =
            if ansi { format!("\x1b[2m{}\x1b[0m", short_id(&row.info.id)) } else { short_id(&row.info.id) };
        out.push_str(&format!("{line} {id} {}{message}\n", label_text(&row.labels)));
        // The lanes that go on to the next row.
        if let Some(next) = rows.get(i + 1) {
            let mut below = String::new();
            let width = next.open.iter().copied().max().unwrap_or(0) + 1;
            for lane in 0..width {
                let still_open = (lane == row.lane && row.continues)
                    || (lane != row.lane && row.open.contains(&lane) && !row.joined.contains(&lane));
                below.push_str(&if still_open { paint("│", lane, ansi) } else { " ".to_string() });
                if lane + 1 < width {
                    below.push(' ');
                }
            }
            out.push_str(below.trim_end());
            out.push('\n');
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The drawing as an SVG document: a dot per snapshot, a line per lane, the id, refs and
/// message beside; gray when not `colors`.
pub fn render_svg(rows: &[Row], colors: bool) -> String {
    const STEP: usize = 24;
    let color = |lane: usize| {
        let (r, g, b) = if colors { PALETTE[lane % PALETTE.len()] } else { (96, 96, 96) };
        format!("rgb({r},{g},{b})")
    };
    let lanes = rows.iter().flat_map(|r| r.open.iter().chain(&r.joined)).copied().max().unwrap_or(0) + 1;
    let x = |lane: usize| 12 + lane * STEP;
    let y = |row: usize| 14 + row * STEP;
    let text_x = x(lanes) + 4;
    let mut shapes = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i + 1 < rows.len() {
            for &lane in &row.open {
                let goes_on = if lane == row.lane { row.continues } else { !row.joined.contains(&lane) };
                if goes_on {
                    shapes.push_str(&format!(
                        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"2\"/>",
                        x(lane),
                        y(i),
                        y(i + 1),
                        color(lane)
                    ));
                }
            }
        }
        for &lane in &row.joined {
            // A lane ending here: a line from the row above into this snapshot's dot.
            shapes.push_str(&format!(
                "<path d=\"M{} {} L{} {}\" stroke=\"{}\" stroke-width=\"2\" fill=\"none\"/>",
                x(lane),
                y(i.saturating_sub(1)),
                x(row.lane),
                y(i),
                color(lane)
            ));
        }
        shapes.push_str(&format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/>",
            x(row.lane),
            y(i),
            color(row.lane)
        ));
        let message = row.info.message.lines().next().unwrap_or("");
        shapes.push_str(&format!(
            "<text x=\"{text_x}\" y=\"{}\" font-family=\"monospace\" font-size=\"12\">{} {}{}</text>",
            y(i) + 4,
            short_id(&row.info.id),
            escape(&label_text(&row.labels)),
            escape(message)
        ));
    }
    let width = text_x + 640;
    let height = y(rows.len().max(1)) - 4;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">{shapes}</svg>"
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn snap(n: u8, parent: Option<u8>) -> SnapshotInfo {
        let id = |n: u8| SnapshotId([n; 12]);
        SnapshotInfo {
            id: id(n),
            parent_id: parent.map(id),
            written_at: Utc.timestamp_opt(1_700_000_000 + i64::from(n), 0).unwrap(),
            message: format!("commit {n}"),
            metadata: Default::default(),
        }
    }

    #[test]
    fn two_branches_meet_at_their_common_ancestor() {
        // 1 <- 2 (main) ; 2 <- 3 <- 4 (dev)
        let all: Vec<SnapshotInfo> =
            vec![snap(1, None), snap(2, Some(1)), snap(3, Some(2)), snap(4, Some(3))];
        let snapshots: HashMap<_, _> = all.iter().map(|s| (s.id, s.clone())).collect();
        let labels = HashMap::from([
            (all[1].id, vec![RefLabel::Branch("main".into()), RefLabel::Tag("v1".into())]),
            (all[3].id, vec![RefLabel::Branch("dev".into())]),
        ]);
        let rows = layout(&[all[1].id, all[3].id], &snapshots, &labels);
        let order: Vec<&str> = rows.iter().map(|r| r.info.message.as_str()).collect();
        assert_eq!(order, ["commit 4", "commit 3", "commit 2", "commit 1"]);
        assert_eq!(rows.iter().map(|r| r.lane).collect::<Vec<_>>(), [1, 1, 0, 0]);
        assert_eq!(rows[2].joined, [1]);
        let text = render_text(&rows, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("│ ● ") && lines[0].ends_with("(dev) commit 4"), "{text}");
        assert!(lines[4].starts_with("●─╯ ") && lines[4].ends_with("(main, tag: v1) commit 2"), "{text}");
        assert!(lines[6].starts_with("● ") && lines[6].ends_with("commit 1"), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(render_text(&rows, true).contains("\x1b[38;2;"));
        let svg = render_svg(&rows, true);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("tag: v1") && svg.starts_with("<svg"));
    }

    #[test]
    fn children_come_before_parents_whatever_their_clocks_say() {
        let mut child = snap(1, Some(2));
        child.written_at = Utc.timestamp_opt(1_000, 0).unwrap(); // older than its parent
        let all = [child, snap(2, None)];
        let snapshots: HashMap<_, _> = all.iter().map(|s| (s.id, s.clone())).collect();
        let rows = layout(&[all[0].id], &snapshots, &HashMap::new());
        assert_eq!(rows[0].info.id, all[0].id);
        assert!(rows[0].continues && !rows[1].continues);
    }
}
