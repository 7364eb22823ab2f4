//! What the engine needs to know from a node's `zarr.json`: group or array, and for arrays
//! the chunk grid and how chunk coordinates are spelled in keys.

use serde_json::Value;

use crate::error::{IcechunkError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeType {
    Group,
    Array(ArrayInfo),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkKeyEncoding {
    /// `c/0/1` (or `c.0.1`); a zero-dimensional array's only chunk is `c`.
    Default { separator: char },
    /// `0.1` (or `0/1`); a zero-dimensional array's only chunk is `0`.
    V2 { separator: char },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayInfo {
    pub shape: Vec<u64>,
    /// Bytes per element of the data type, when it is a fixed-size one the engine knows.
    pub item_size: Option<u64>,
    /// Regular chunk shape; `None` for grids the engine does not interpret.
    pub chunk_shape: Option<Vec<u64>>,
    pub encoding: ChunkKeyEncoding,
}

impl ArrayInfo {
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Chunks along each dimension (at least 1).
    pub fn grid_shape(&self) -> Vec<u64> {
        match &self.chunk_shape {
            Some(chunks) => self
                .shape
                .iter()
                .zip(chunks)
                .map(|(s, c)| if *c == 0 { 1 } else { s.div_ceil(*c).max(1) })
                .collect(),
            None => vec![1024; self.ndim()],
        }
    }

    /// Uncompressed bytes of one chunk, when known.
    pub fn chunk_bytes(&self) -> Option<u64> {
        Some(self.chunk_shape.as_ref()?.iter().product::<u64>() * self.item_size?)
    }

    /// How many references a shard of this array should hold at most. Arrays whose chunks will
    /// likely be stored inline get smaller shards, so that a shard stays near
    /// `INLINE_SHARD_BYTES` and reading or rewriting one stays cheap.
    pub fn refs_per_shard(&self, max_refs: u32, inline_threshold: u32) -> u32 {
        const INLINE_SHARD_BYTES: u64 = 256 * 1024;
        match self.chunk_bytes() {
            Some(bytes) if bytes > 0 && bytes <= inline_threshold as u64 => {
                max_refs.min((INLINE_SHARD_BYTES / bytes).clamp(64, u32::MAX as u64) as u32)
            }
            _ => max_refs,
        }
    }

    /// Chunks per manifest shard along each dimension: the chunk grid, halved along its
    /// largest dimension until a block holds at most `max_refs` chunks.
    pub fn block_shape(&self, max_refs: u32) -> Vec<u32> {
        let mut block: Vec<u64> = self.grid_shape();
        let max_refs = max_refs.max(1) as u64;
        while block.iter().product::<u64>() > max_refs {
            let (i, _) =
                block.iter().enumerate().max_by_key(|(i, d)| (**d, usize::MAX - i)).expect("ndim > 0");
            block[i] = block[i].div_ceil(2);
        }
        block.into_iter().map(|d| d.min(u32::MAX as u64) as u32).collect()
    }

    pub fn chunk_key(&self, coords: &[u32]) -> String {
        let join = |sep: char| coords.iter().map(u32::to_string).collect::<Vec<_>>().join(&sep.to_string());
        match self.encoding {
            ChunkKeyEncoding::Default { separator } if coords.is_empty() => {
                let _ = separator;
                "c".to_string()
            }
            ChunkKeyEncoding::Default { separator } => format!("c{separator}{}", join(separator)),
            ChunkKeyEncoding::V2 { .. } if coords.is_empty() => "0".to_string(),
            ChunkKeyEncoding::V2 { separator } => join(separator),
        }
    }

    /// Coordinates from the part of a key below the array, if it names a chunk.
    pub fn parse_chunk_key(&self, rest: &str) -> Option<Vec<u32>> {
        let (body, separator) = match self.encoding {
            ChunkKeyEncoding::Default { separator } => {
                if rest == "c" {
                    return self.shape.is_empty().then(Vec::new);
                }
                (rest.strip_prefix('c')?.strip_prefix(separator)?, separator)
            }
            ChunkKeyEncoding::V2 { separator } => {
                if self.shape.is_empty() {
                    return (rest == "0").then(Vec::new);
                }
                (rest, separator)
            }
        };
        let coords: Option<Vec<u32>> = body
            .split(separator)
            .map(|p| if p.is_empty() || (p.len() > 1 && p.starts_with('0')) { None } else { p.parse().ok() })
            .collect();
        coords.filter(|c| c.len() == self.ndim())
    }
}

fn item_size(data_type: &str) -> Option<u64> {
    Some(match data_type {
        "bool" | "int8" | "uint8" => 1,
        "int16" | "uint16" | "float16" => 2,
        "int32" | "uint32" | "float32" => 4,
        "int64" | "uint64" | "float64" | "complex64" => 8,
        "complex128" => 16,
        _ => return None,
    })
}

/// Parses the node type and array layout from `zarr.json`.
pub fn parse_zarr_json(key: &str, bytes: &[u8]) -> Result<NodeType> {
    let bad = |reason: &str| IcechunkError::invalid_key(key, format!("invalid zarr.json: {reason}"));
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let node_type = doc.get("node_type").and_then(Value::as_str).ok_or_else(|| bad("no node_type"))?;
    match node_type {
        "group" => Ok(NodeType::Group),
        "array" => {
            let u64s = |v: Option<&Value>| -> Option<Vec<u64>> {
                v?.as_array()?.iter().map(Value::as_u64).collect()
            };
            let shape = u64s(doc.get("shape")).ok_or_else(|| bad("array without a valid shape"))?;
            let grid = doc.get("chunk_grid");
            let chunk_shape = match grid.and_then(|g| g.get("name")).and_then(Value::as_str) {
                Some("regular") => {
                    let chunks =
                        u64s(grid.and_then(|g| g.get("configuration")).and_then(|c| c.get("chunk_shape")))
                            .ok_or_else(|| bad("regular chunk grid without chunk_shape"))?;
                    if chunks.len() != shape.len() {
                        return Err(bad("chunk_shape and shape differ in length"));
                    }
                    Some(chunks)
                }
                _ => None,
            };
            let encoding = doc.get("chunk_key_encoding");
            let name = encoding.and_then(|e| e.get("name")).and_then(Value::as_str).unwrap_or("default");
            let separator = encoding
                .and_then(|e| e.get("configuration"))
                .and_then(|c| c.get("separator"))
                .and_then(Value::as_str);
            let separator = |default: char| -> Result<char> {
                match separator {
                    None => Ok(default),
                    Some("/") => Ok('/'),
                    Some(".") => Ok('.'),
                    Some(other) => Err(bad(&format!("unsupported chunk key separator `{other}`"))),
                }
            };
            let encoding = match name {
                "default" => ChunkKeyEncoding::Default { separator: separator('/')? },
                "v2" => ChunkKeyEncoding::V2 { separator: separator('.')? },
                other => return Err(bad(&format!("unsupported chunk key encoding `{other}`"))),
            };
            let item_size = doc.get("data_type").and_then(Value::as_str).and_then(item_size);
            Ok(NodeType::Array(ArrayInfo { shape, item_size, chunk_shape, encoding }))
        }
        other => Err(bad(&format!("unknown node_type `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[u64], chunks: &[u64], enc: &str) -> ArrayInfo {
        let json = format!(
            r#"{{"zarr_format":3,"node_type":"array","shape":{shape:?},"chunk_grid":{{"name":"regular","configuration":{{"chunk_shape":{chunks:?}}}}},{enc}"data_type":"int8"}}"#
        );
        match parse_zarr_json("a/zarr.json", json.as_bytes()).unwrap() {
            NodeType::Array(info) => info,
            NodeType::Group => panic!(),
        }
    }

    #[test]
    fn chunk_keys() {
        let a = array(&[10, 10], &[5, 5], "");
        assert_eq!(a.chunk_key(&[1, 0]), "c/1/0");
        assert_eq!(a.parse_chunk_key("c/1/0"), Some(vec![1, 0]));
        assert_eq!(a.parse_chunk_key("c/1"), None);
        assert_eq!(a.parse_chunk_key("c/01/0"), None);
        let v2 = array(
            &[10, 10],
            &[5, 5],
            r#""chunk_key_encoding":{"name":"v2","configuration":{"separator":"."}},"#,
        );
        assert_eq!(v2.chunk_key(&[1, 0]), "1.0");
        assert_eq!(v2.parse_chunk_key("1.0"), Some(vec![1, 0]));
        let scalar = array(&[], &[], "");
        assert_eq!(scalar.parse_chunk_key("c"), Some(vec![]));
    }

    #[test]
    fn block_shapes_are_bounded() {
        let a = array(&[1_000_000, 1_000_000], &[1000, 1000], "");
        let b = a.block_shape(4096);
        assert!(b.iter().map(|d| *d as u64).product::<u64>() <= 4096, "{b:?}");
        assert_eq!(array(&[100, 100], &[10, 10], "").block_shape(4096), vec![10, 10]);
        assert_eq!(array(&[1000, 2], &[1, 1], "").block_shape(4096), vec![1000, 2]);
        // 10x10 int8 chunks (100 B) are inlined: shards hold at most 256 KiB / 100 B refs.
        let small = array(&[2000, 2000], &[10, 10], "");
        assert_eq!(small.chunk_bytes(), Some(100));
        assert_eq!(small.refs_per_shard(4096, 512), 2621);
        assert_eq!(small.refs_per_shard(4096, 64), 4096);
    }
}
