//! `icechunk ls` (groups and arrays of a version) and `icechunk cat-chunk` (one chunk's
//! stored bytes).

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use icechunk::store::keys::node_key_prefix;
use icechunk::zarr_json::{parse_zarr_json, NodeType};
use icechunk::{Repository, Store};

use crate::error::{CliError, CliResult};
use crate::output::{self, Output};
use crate::refs::resolve_or_main;

pub async fn ls(repo: &Repository, out: Output, path: &str, at: Option<&str>) -> CliResult {
    let version = resolve_or_main(repo, at).await?;
    let store = Store::new(repo.readonly_session(&version).await?);
    let root = node_path(path);
    let below = |node: &str| root == "/" || node == root || node.starts_with(&format!("{root}/"));
    let mut nodes = Vec::new();
    for node in store.session().list_nodes().into_iter().filter(|n| below(n)) {
        let key = format!("{}zarr.json", node_key_prefix(&node));
        let Some(bytes) = store.get(&key, None).await? else { continue };
        let metadata: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        nodes.push(describe(&node, &metadata));
    }
    if nodes.is_empty() && root != "/" {
        return Err(CliError::failed(format!("no group or array at `{root}`")));
    }
    let document = json!(nodes);
    out.show(document, || {
        let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
        let dims = |v: &Value| match v.as_array() {
            Some(d) => d.iter().map(Value::to_string).collect::<Vec<_>>().join("x"),
            None => String::new(),
        };
        let rows = nodes
            .iter()
            .map(|n| {
                let codecs =
                    n["codecs"].as_array().map(|c| c.iter().map(text).collect::<Vec<_>>().join(", "));
                vec![
                    text(&n["path"]),
                    text(&n["node_type"]),
                    dims(&n["shape"]),
                    dims(&n["chunk_shape"]),
                    text(&n["data_type"]),
                    codecs.unwrap_or_default(),
                ]
            })
            .collect();
        output::table(&["path", "type", "shape", "chunks", "dtype", "codecs"], rows, &[])
    })
}

/// A node as `ls` shows it. For sharded arrays `chunk_shape` is the shard's and
/// `inner_chunk_shape` the chunks inside; codecs are named, outermost first, with those of
/// a sharding codec in brackets.
fn describe(path: &str, metadata: &Value) -> Value {
    let node_type = metadata["node_type"].as_str().unwrap_or("unknown");
    if node_type != "array" {
        return json!({"path": path, "node_type": node_type});
    }
    let codecs = metadata["codecs"].as_array().cloned().unwrap_or_default();
    let inner = codecs
        .iter()
        .find(|c| c["name"] == "sharding_indexed")
        .map(|c| c["configuration"]["chunk_shape"].clone());
    json!({
        "path": path,
        "node_type": "array",
        "shape": metadata["shape"],
        "chunk_shape": metadata["chunk_grid"]["configuration"]["chunk_shape"],
        "inner_chunk_shape": inner.unwrap_or(Value::Null),
        "data_type": data_type(&metadata["data_type"]),
        "fill_value": metadata["fill_value"],
        "codecs": codecs.iter().map(codec_name).collect::<Vec<_>>(),
    })
}

/// `int32`, or for data types with a configuration their name.
fn data_type(value: &Value) -> Value {
    match value {
        Value::Object(o) => o.get("name").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn codec_name(codec: &Value) -> String {
    let name = codec["name"].as_str().unwrap_or("?").to_string();
    match codec["configuration"]["codecs"].as_array() {
        Some(inner) => format!("{name}[{}]", inner.iter().map(codec_name).collect::<Vec<_>>().join(", ")),
        None => name,
    }
}

pub async fn cat_chunk(
    repo: &Repository,
    array: &str,
    coords: &str,
    at: Option<&str>,
    output: Option<&Path>,
) -> CliResult {
    let coords = parse_coords(coords)?;
    let version = resolve_or_main(repo, at).await?;
    let store = Store::new(repo.readonly_session(&version).await?);
    let array = node_path(array);
    let prefix = node_key_prefix(&array);
    let metadata_key = format!("{prefix}zarr.json");
    let metadata = store
        .get(&metadata_key, None)
        .await?
        .ok_or_else(|| CliError::failed(format!("no array at `{array}`")))?;
    let info = match parse_zarr_json(&metadata_key, &metadata)? {
        NodeType::Array(info) => info,
        NodeType::Group => return Err(CliError::failed(format!("`{array}` is a group, not an array"))),
    };
    if coords.len() != info.ndim() {
        return Err(CliError::usage(format!(
            "`{array}` has {} dimensions, the coordinates give {}",
            info.ndim(),
            coords.len()
        )));
    }
    let grid = info.grid_shape();
    if coords.iter().zip(&grid).any(|(c, g)| u64::from(*c) >= *g) {
        return Err(CliError::usage(format!(
            "chunk {coords:?} is outside the chunk grid {grid:?} of `{array}`"
        )));
    }
    let key = format!("{prefix}{}", info.chunk_key(&coords));
    let bytes = store.get(&key, None).await?.ok_or_else(|| {
        CliError::failed(format!("`{array}` has no chunk at {coords:?} (reads give the fill value)"))
    })?;
    match output {
        Some(path) => std::fs::write(path, &bytes)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// `0,3,1` (or `0.3.1`); empty for a 0-d array.
fn parse_coords(text: &str) -> CliResult<Vec<u32>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split([',', '.'])
        .map(|part| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| CliError::usage(format!("`{text}` are not chunk coordinates (e.g. 0,3,1)")))
        })
        .collect()
}

/// `/a/b` for `a/b`, `/a/b/` or `/a/b`.
fn node_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_and_paths() {
        assert_eq!(parse_coords("0,3,1").unwrap(), vec![0, 3, 1]);
        assert_eq!(parse_coords("").unwrap(), Vec::<u32>::new());
        assert!(matches!(parse_coords("a,1"), Err(CliError::Usage(_))));
        assert!(matches!(parse_coords("-1"), Err(CliError::Usage(_))));
        assert_eq!(node_path("a/b/"), "/a/b");
    }

    #[test]
    fn sharded_codecs_are_named_with_their_inner_codecs() {
        let metadata = json!({
            "node_type": "array", "shape": [10], "data_type": "int32", "fill_value": 0,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [10]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [5],
                "codecs": [{"name": "bytes"}, {"name": "zstd"}]}}]
        });
        let node = describe("/a", &metadata);
        assert_eq!(node["codecs"], json!(["sharding_indexed[bytes, zstd]"]));
        assert_eq!(node["inner_chunk_shape"], json!([5]));
    }
}
