//! Versions and times as given on the command line.
//!
//! A REF is a branch, a tag or a snapshot id. A bare word is tried as a snapshot id (when it
//! has that form), then as a branch, then as a tag; `branch:NAME`, `tag:NAME` and
//! `snapshot:ID` say which. A name that no ref could have is a usage error (exit 2); a
//! well-formed name that does not exist is a failure (exit 1).

use chrono::{DateTime, Duration, Utc};

use icechunk::refs::validate_ref_name;
use icechunk::{Repository, SnapshotId, VersionInfo};

use crate::error::{CliError, CliResult};

/// A ref name checked against the naming rules, as a usage error.
pub fn checked_name(name: &str) -> CliResult<&str> {
    validate_ref_name(name).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(name)
}

pub fn snapshot_id(text: &str) -> CliResult<SnapshotId> {
    text.parse().map_err(|_| CliError::usage(format!("`{text}` is not a snapshot id")))
}

/// The version a REF names.
pub async fn resolve(repo: &Repository, text: &str) -> CliResult<VersionInfo> {
    if let Some(name) = text.strip_prefix("branch:") {
        return Ok(VersionInfo::BranchTip(checked_name(name)?.to_string()));
    }
    if let Some(name) = text.strip_prefix("tag:") {
        return Ok(VersionInfo::Tag(checked_name(name)?.to_string()));
    }
    if let Some(id) = text.strip_prefix("snapshot:") {
        return Ok(VersionInfo::Snapshot(snapshot_id(id)?));
    }
    if let Ok(id) = text.parse::<SnapshotId>() {
        return Ok(VersionInfo::Snapshot(id));
    }
    let name = checked_name(text)?;
    let (branches, tags) = futures::try_join!(repo.list_branches(), repo.list_tags())?;
    if branches.contains(name) {
        Ok(VersionInfo::BranchTip(name.to_string()))
    } else if tags.contains(name) {
        Ok(VersionInfo::Tag(name.to_string()))
    } else {
        Err(CliError::failed(format!("no branch, tag or snapshot `{name}`")))
    }
}

/// The version of `--at`/`--from`, the tip of main when absent.
pub async fn resolve_or_main(repo: &Repository, text: Option<&str>) -> CliResult<VersionInfo> {
    match text {
        Some(text) => resolve(repo, text).await,
        None => Ok(VersionInfo::BranchTip("main".to_string())),
    }
}

/// `7d`, `12h`, `30m`, `90s`, `2w` ago, or an RFC 3339 time.
pub fn parse_when(text: &str, now: DateTime<Utc>) -> CliResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let bad = || {
        CliError::usage(format!(
            "`{text}` is neither a duration (7d, 12h, 30m, 90s, 2w) nor an RFC 3339 time (2026-11-01T00:00:00Z)"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let ago = match unit {
        "s" => Duration::try_seconds(number),
        "m" => Duration::try_minutes(number),
        "h" => Duration::try_hours(number),
        "d" => Duration::try_days(number),
        "w" => Duration::try_weeks(number),
        _ => None,
    }
    .ok_or_else(bad)?;
    now.checked_sub_signed(ago).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_when("1d", now).unwrap(), now - Duration::days(1));
        assert_eq!(parse_when("90s", now).unwrap(), now - Duration::seconds(90));
        assert_eq!(
            parse_when("2026-11-01T00:00:00+01:00", now).unwrap().to_rfc3339(),
            "2026-10-31T23:00:00+00:00"
        );
        for bad in ["", "d", "7", "7y", "-1d", "1.5h", "yesterday"] {
            assert!(matches!(parse_when(bad, now), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
