//! Zarr keys: validation, and the mapping between keys and node paths.

use crate::error::{IcechunkError, Result};

pub const METADATA_KEY: &str = "zarr.json";
const ZARR_V2_KEYS: [&str; 4] = [".zarray", ".zgroup", ".zattrs", ".zmetadata"];

/// Zarr v2 metadata keys: readers probe them (answered "absent"), writers are refused.
pub fn is_zarr_v2_key(key: &str) -> bool {
    ZARR_V2_KEYS.contains(&key.rsplit('/').next().unwrap_or_default())
}

/// Splits a key into its segments, refusing keys that escape the hierarchy or are Zarr v2.
pub fn segments(key: &str) -> Result<Vec<&str>> {
    if key.is_empty() {
        return Err(IcechunkError::invalid_key(key, "a key cannot be empty"));
    }
    if key.starts_with('/') {
        return Err(IcechunkError::invalid_key(key, "keys are relative: no leading `/`"));
    }
    let parts: Vec<&str> = key.split('/').collect();
    for part in &parts {
        match *part {
            "" => return Err(IcechunkError::invalid_key(key, "empty path segment")),
            "." | ".." => {
                return Err(IcechunkError::invalid_key(key, "`.` and `..` segments are not allowed"))
            }
            p if ZARR_V2_KEYS.contains(&p) => {
                return Err(IcechunkError::invalid_key(
                    key,
                    "Zarr v2 metadata is not supported; use Zarr format 3",
                ))
            }
            _ => {}
        }
    }
    Ok(parts)
}

/// Validates a listing prefix ("" or "a/b" or "a/b/").
pub fn prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    segments(trimmed)?;
    Ok(trimmed.to_string())
}

/// The node path for key segments: [] -> "/", ["a","b"] -> "/a/b".
pub fn node_path(segments: &[&str]) -> String {
    format!("/{}", segments.join("/"))
}

/// The key prefix of everything under a node: "/" -> "", "/a/b" -> "a/b/".
pub fn node_key_prefix(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys() {
        for bad in ["", "/a", "a//b", "a/../b", "./a", ".zarray", "g/.zgroup", "a/.zattrs", "a/"] {
            assert!(segments(bad).is_err(), "{bad:?}");
        }
        assert_eq!(segments("a/b/zarr.json").unwrap(), vec!["a", "b", "zarr.json"]);
    }

    #[test]
    fn paths() {
        assert_eq!(node_path(&[]), "/");
        assert_eq!(node_path(&["a", "b"]), "/a/b");
        assert_eq!(node_key_prefix("/"), "");
        assert_eq!(node_key_prefix("/a/b"), "a/b/");
    }
}
