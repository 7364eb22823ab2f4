//! Manifest shards: the chunk references of one array inside one block of its chunk grid.
//!
//! A decoded shard keeps its verified flatbuffer and answers lookups by binary search over
//! the sorted coordinates, without building per-reference objects.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::header::{self, ObjectType};
use super::{chunk, fb};
use crate::error::{IcechunkError, Result};
use crate::ids::{ChunkCoords, ChunkId, ManifestId, NodeId};

/// Where a chunk's bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkLocation {
    Inline(Bytes),
    /// Bytes `offset..offset + length` of object `chunks/<id>`, followed there by a table of
    /// block checksums when `block_size_log2` > 0 (see [`super::chunk`]).
    Object {
        id: ChunkId,
        offset: u64,
        block_size_log2: u8,
    },
    /// Bytes `offset..offset + length` of the object at the URL `location`, outside the
    /// repository (spec §6.6), as it was when `pin` was taken.
    Virtual {
        location: Arc<str>,
        offset: u64,
        pin: Option<SourcePin>,
    },
}

/// How a virtual reference recognises that its source changed since it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum SourcePin {
    /// The source's ETag then: a read asks for that version (`If-Match`).
    ETag(String),
    /// A time (Unix seconds) the source had not been modified after: a read asks for the object
    /// only if still unmodified since then (`If-Unmodified-Since`).
    LastModified(u64),
}

/// A virtual location split where shards store it: the URL up to and including its last `/`
/// (shared by many references, stored once per shard), and the rest.
pub fn split_location(location: &str) -> (&str, &str) {
    let after_scheme = location.find("://").map_or(0, |i| i + 3);
    match location[after_scheme..].rfind('/') {
        Some(i) => location.split_at(after_scheme + i + 1),
        None => (location, ""),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    pub location: ChunkLocation,
    pub length: u64,
    /// CRC-32C of the chunk's bytes.
    pub checksum: u32,
}

impl ChunkRef {
    /// Whether the chunk's bytes are a range of a file outside the repository.
    pub fn is_virtual(&self) -> bool {
        matches!(self.location, ChunkLocation::Virtual { .. })
    }
}

pub struct ManifestShard {
    /// The verified flatbuffer.
    buf: Vec<u8>,
}

pub(crate) fn cmp_coords(stored: flatbuffers::Vector<'_, u32>, wanted: &[u32]) -> Ordering {
    stored.iter().cmp(wanted.iter().copied())
}

impl ManifestShard {
    /// Decodes and checks a stored shard (spec §6.1), in one pass over its references: sorted
    /// strictly by coordinates, each of the block's dimensionality, each with exactly one of
    /// inline data (offset 0, length its size) or a chunk object (a byte range that fits in
    /// 64 bits, a block size of at most 2^63).
    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let buf = header::decode(path, ObjectType::Manifest, stored)?;
        let corrupt = |reason: String| IcechunkError::corrupt(path, reason);
        let manifest = flatbuffers::root_with_opts::<fb::Manifest>(&super::verifier_options(buf.len()), &buf)
            .map_err(|e| corrupt(format!("invalid manifest: {e}")))?;
        let ndim = manifest.block().len();
        let prefixes = manifest.location_prefixes().map_or(0, |p| p.len());
        let mut previous: Option<flatbuffers::Vector<'_, u32>> = None;
        for (i, entry) in manifest.refs().iter().enumerate() {
            let coords = entry.coords();
            if coords.len() != ndim {
                return Err(corrupt(format!(
                    "reference {i} has {} coordinates in a shard of {ndim} dimensions",
                    coords.len()
                )));
            }
            if previous.is_some_and(|p| p.iter().cmp(coords.iter()).is_ge()) {
                return Err(corrupt(format!(
                    "references are not strictly sorted by coordinates at reference {i}"
                )));
            }
            previous = Some(coords);
            if let Some(name) = entry.location_name() {
                check_virtual(i, &entry, name, prefixes).map_err(corrupt)?;
                continue;
            }
            match (entry.inline_data(), entry.chunk_id()) {
                (Some(data), None) => {
                    if entry.offset() != 0 || entry.length() != data.len() as u64 {
                        return Err(corrupt(format!(
                            "inline reference {i} has offset {} and length {} for {} bytes",
                            entry.offset(),
                            entry.length(),
                            data.len()
                        )));
                    }
                }
                (None, Some(_)) => {
                    if entry.offset().checked_add(entry.length()).is_none() {
                        return Err(corrupt(format!("reference {i} has a byte range past 2^64")));
                    }
                    let log2 = entry.block_size_log2();
                    if log2 != 0 && !(chunk::MIN_BLOCK_SIZE_LOG2..=chunk::MAX_BLOCK_SIZE_LOG2).contains(&log2)
                    {
                        return Err(corrupt(format!(
                            "reference {i} has a block size of 2^{}",
                            entry.block_size_log2()
                        )));
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(corrupt(format!("reference {i} has both inline data and a chunk object")))
                }
                (None, None) => {
                    return Err(corrupt(format!("reference {i} has neither inline data nor a chunk object")))
                }
            }
        }
        Ok(ManifestShard { buf })
    }

    fn fb(&self) -> fb::Manifest<'_> {
        // SAFETY: the buffer was verified in `decode` and is immutable since.
        unsafe { flatbuffers::root_unchecked::<fb::Manifest>(&self.buf) }
    }

    pub fn id(&self) -> ManifestId {
        ManifestId::from_fb(self.fb().id())
    }

    pub fn node_id(&self) -> NodeId {
        NodeId::from_fb(self.fb().node_id())
    }

    /// The index of the block of the array's chunk grid this shard holds.
    pub fn block(&self) -> Vec<u32> {
        self.fb().block().iter().collect()
    }

    /// Whether this shard holds block `block`.
    pub fn is_block(&self, block: &[u32]) -> bool {
        self.fb().block().iter().eq(block.iter().copied())
    }

    pub fn len(&self) -> usize {
        self.fb().refs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decoded size, for cache accounting.
    pub fn weight(&self) -> usize {
        self.buf.len()
    }

    pub fn lookup(&self, coords: &[u32]) -> Option<ChunkRef> {
        let refs = self.fb().refs();
        let (mut lo, mut hi) = (0usize, refs.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let entry = refs.get(mid);
            match cmp_coords(entry.coords(), coords) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(to_chunk_ref(&entry, self.fb().location_prefixes())),
            }
        }
        None
    }

    /// All references, in coordinate order.
    pub fn iter(&self) -> impl Iterator<Item = (ChunkCoords, ChunkRef)> + '_ {
        let prefixes = self.fb().location_prefixes();
        self.fb().refs().iter().map(move |r| (r.coords().iter().collect(), to_chunk_ref(&r, prefixes)))
    }

    /// Coordinates and lengths only: what listings and sizes need.
    pub fn iter_lengths(&self) -> impl Iterator<Item = (ChunkCoords, u64)> + '_ {
        self.fb().refs().iter().map(|r| (r.coords().iter().collect(), r.length()))
    }

    pub fn encode(
        id: ManifestId,
        node_id: NodeId,
        block: &[u32],
        refs: &[(ChunkCoords, ChunkRef)],
        zstd_level: Option<i32>,
    ) -> Result<Bytes> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(64 + refs.len() * 48);
        let mut offsets = Vec::with_capacity(refs.len());
        // Each URL prefix once per shard; equal names once too (`create_shared_string`).
        let mut prefixes: Vec<&str> = Vec::new();
        let mut prefix_index: HashMap<&str, u32> = HashMap::new();
        for (coords, chunk) in refs {
            let coords = fbb.create_vector(coords);
            let mut args = fb::ChunkRefArgs {
                coords: Some(coords),
                length: chunk.length,
                checksum: chunk.checksum,
                ..Default::default()
            };
            let chunk_id;
            match &chunk.location {
                ChunkLocation::Inline(bytes) => args.inline_data = Some(fbb.create_vector(bytes)),
                ChunkLocation::Object { id, offset, block_size_log2 } => {
                    chunk_id = id.to_fb();
                    args.chunk_id = Some(&chunk_id);
                    args.offset = *offset;
                    args.block_size_log2 = *block_size_log2;
                }
                ChunkLocation::Virtual { location, offset, pin } => {
                    let (prefix, name) = split_location(location);
                    args.location_prefix = *prefix_index.entry(prefix).or_insert_with(|| {
                        prefixes.push(prefix);
                        prefixes.len() as u32 - 1
                    });
                    args.location_name = Some(fbb.create_shared_string(name));
                    args.offset = *offset;
                    match pin {
                        Some(SourcePin::ETag(etag)) => args.pin_etag = Some(fbb.create_shared_string(etag)),
                        Some(SourcePin::LastModified(seconds)) => args.pin_last_modified = *seconds,
                        None => {}
                    }
                }
            }
            offsets.push(fb::ChunkRef::create(&mut fbb, &args));
        }
        let refs = fbb.create_vector(&offsets);
        let location_prefixes = (!prefixes.is_empty()).then(|| {
            let strings: Vec<_> = prefixes.iter().map(|p| fbb.create_string(p)).collect();
            fbb.create_vector(&strings)
        });
        let block = fbb.create_vector(block);
        let manifest = fb::Manifest::create(
            &mut fbb,
            &fb::ManifestArgs {
                id: Some(&id.to_fb()),
                node_id: Some(&node_id.to_fb()),
                block: Some(block),
                refs: Some(refs),
                location_prefixes,
            },
        );
        fbb.finish_minimal(manifest);
        header::encode(ObjectType::Manifest, fbb.finished_data(), zstd_level)
    }
}

/// A virtual reference's own rules (spec §6.6): no other location, a known prefix, a byte range
/// within 64 bits, at most one pin.
fn check_virtual(
    i: usize,
    entry: &fb::ChunkRef<'_>,
    name: &str,
    prefixes: usize,
) -> std::result::Result<(), String> {
    if entry.inline_data().is_some() || entry.chunk_id().is_some() {
        return Err(format!("virtual reference {i} also has inline data or a chunk object"));
    }
    if entry.location_prefix() as usize >= prefixes {
        return Err(format!(
            "virtual reference {i} names location prefix {} of {prefixes}",
            entry.location_prefix()
        ));
    }
    if name.contains('\0') {
        return Err(format!("virtual reference {i} has a NUL in its location"));
    }
    if entry.offset().checked_add(entry.length()).is_none() {
        return Err(format!("reference {i} has a byte range past 2^64"));
    }
    if entry.pin_etag().is_some() && entry.pin_last_modified() != 0 {
        return Err(format!("virtual reference {i} has two pins"));
    }
    Ok(())
}

fn to_chunk_ref(
    entry: &fb::ChunkRef<'_>,
    prefixes: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<&str>>>,
) -> ChunkRef {
    if let Some(name) = entry.location_name() {
        // `decode` checked the prefix index.
        let prefix = prefixes.expect("checked by decode").get(entry.location_prefix() as usize);
        let pin = match (entry.pin_etag(), entry.pin_last_modified()) {
            (Some(etag), _) => Some(SourcePin::ETag(etag.to_string())),
            (None, 0) => None,
            (None, seconds) => Some(SourcePin::LastModified(seconds)),
        };
        let location: Arc<str> = format!("{prefix}{name}").into();
        return ChunkRef {
            location: ChunkLocation::Virtual { location, offset: entry.offset(), pin },
            length: entry.length(),
            checksum: entry.checksum(),
        };
    }
    // `decode` checked that exactly one of the two is present.
    let location = match (entry.inline_data(), entry.chunk_id()) {
        (Some(data), _) => ChunkLocation::Inline(Bytes::copy_from_slice(data.bytes())),
        (None, Some(id)) => ChunkLocation::Object {
            id: ChunkId::from_fb(id),
            offset: entry.offset(),
            block_size_log2: entry.block_size_log2(),
        },
        (None, None) => unreachable!("a verified shard has no reference without a location"),
    };
    ChunkRef { location, length: entry.length(), checksum: entry.checksum() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard's stored bytes with references built field by field: what no writer produces.
    /// Each reference: coordinates, inline data, chunk id, offset, length, block size.
    #[allow(clippy::type_complexity)]
    fn raw(block: &[u32], refs: &[(Vec<u32>, Option<&[u8]>, Option<ChunkId>, u64, u64, u8)]) -> Vec<u8> {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let mut offsets = Vec::new();
        for (coords, inline, id, offset, length, block_size_log2) in refs {
            let coords = fbb.create_vector(coords);
            let inline_data = inline.map(|b| fbb.create_vector(b));
            let id = id.map(|i| i.to_fb());
            offsets.push(fb::ChunkRef::create(
                &mut fbb,
                &fb::ChunkRefArgs {
                    coords: Some(coords),
                    inline_data,
                    chunk_id: id.as_ref(),
                    offset: *offset,
                    length: *length,
                    checksum: 0,
                    block_size_log2: *block_size_log2,
                    ..Default::default()
                },
            ));
        }
        let refs = fbb.create_vector(&offsets);
        let block = fbb.create_vector(block);
        let manifest = fb::Manifest::create(
            &mut fbb,
            &fb::ManifestArgs {
                id: Some(&ManifestId::random().to_fb()),
                node_id: Some(&NodeId::random().to_fb()),
                block: Some(block),
                refs: Some(refs),
                location_prefixes: None,
            },
        );
        fbb.finish_minimal(manifest);
        header::encode(ObjectType::Manifest, fbb.finished_data(), None).unwrap().to_vec()
    }

    fn refused(stored: &[u8]) -> String {
        match ManifestShard::decode("m", stored) {
            Err(e @ IcechunkError::Corrupt { .. }) => e.to_string(),
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, got a shard"),
        }
    }

    #[test]
    fn references_are_checked_when_decoding() {
        let id = Some(ChunkId::random());
        let ok = raw(&[0, 0], &[(vec![0, 1], Some(b"ab"), None, 0, 2, 0), (vec![1, 0], None, id, 5, 10, 14)]);
        assert_eq!(ManifestShard::decode("m", &ok).unwrap().len(), 2);
        // An empty chunk: present, empty inline data.
        let empty = raw(&[0], &[(vec![3], Some(b""), None, 0, 0, 0)]);
        let shard = ManifestShard::decode("m", &empty).unwrap();
        assert_eq!(shard.lookup(&[3]).unwrap().location, ChunkLocation::Inline(Bytes::new()));
        // A 0-d array: block [], chunk [].
        assert_eq!(
            ManifestShard::decode("m", &raw(&[], &[(vec![], Some(b"x"), None, 0, 1, 0)])).unwrap().len(),
            1
        );
        // Inline references ignore the block size.
        assert!(ManifestShard::decode("m", &raw(&[0], &[(vec![0], Some(b"x"), None, 0, 1, 200)])).is_ok());

        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                raw(&[0], &[(vec![1], Some(b"a"), None, 0, 1, 0), (vec![0], Some(b"b"), None, 0, 1, 0)]),
                "sorted",
            ),
            (
                raw(&[0], &[(vec![1], Some(b"a"), None, 0, 1, 0), (vec![1], Some(b"b"), None, 0, 1, 0)]),
                "sorted",
            ),
            (raw(&[0, 0], &[(vec![1], Some(b"a"), None, 0, 1, 0)]), "coordinates"),
            (raw(&[0], &[(vec![1, 2], Some(b"a"), None, 0, 1, 0)]), "coordinates"),
            (raw(&[0], &[(vec![1], None, None, 0, 0, 0)]), "neither"),
            (raw(&[0], &[(vec![1], Some(b"a"), id, 0, 1, 0)]), "both"),
            (raw(&[0], &[(vec![1], Some(b"a"), None, 1, 1, 0)]), "offset"),
            (raw(&[0], &[(vec![1], Some(b"a"), None, 0, 2, 0)]), "length"),
            (raw(&[0], &[(vec![1], None, id, u64::MAX, 1, 0)]), "2^64"),
            (raw(&[0], &[(vec![1], None, id, 0, 1, 64)]), "block size"),
            (raw(&[0], &[(vec![1], None, id, 0, 1, 13)]), "block size"),
        ];
        for (stored, reason) in cases {
            let err = refused(&stored);
            assert!(err.contains(reason), "{err} should mention {reason}");
        }
        // Block sizes writers use are read (spec §6.4).
        assert!(ManifestShard::decode("m", &raw(&[0], &[(vec![1], None, id, 0, 1, 30)])).is_ok());
    }

    #[test]
    fn encode_lookup_iterate() {
        let refs: Vec<_> = (0..100u32)
            .map(|i| {
                let location = if i % 2 == 0 {
                    ChunkLocation::Inline(Bytes::from(vec![i as u8; 3]))
                } else {
                    ChunkLocation::Object { id: ChunkId::random(), offset: 0, block_size_log2: 14 }
                };
                (vec![i / 10, i % 10], ChunkRef { location, length: 3, checksum: i })
            })
            .collect();
        let id = ManifestId::random();
        let stored = ManifestShard::encode(id, NodeId::random(), &[0, 0], &refs, Some(3)).unwrap();
        let shard = ManifestShard::decode("m", &stored).unwrap();
        assert_eq!(shard.id(), id);
        assert_eq!(shard.len(), 100);
        for (coords, r) in &refs {
            assert_eq!(shard.lookup(coords).as_ref(), Some(r));
        }
        assert_eq!(shard.lookup(&[10, 0]), None);
        assert_eq!(shard.iter().collect::<Vec<_>>(), refs);
    }

    fn virtual_ref(location: &str, offset: u64, pin: Option<SourcePin>) -> ChunkRef {
        ChunkRef {
            location: ChunkLocation::Virtual { location: location.into(), offset, pin },
            length: 10,
            checksum: 0,
        }
    }

    #[test]
    fn locations_split_after_their_last_slash() {
        assert_eq!(split_location("s3://b/a/f.nc"), ("s3://b/a/", "f.nc"));
        assert_eq!(split_location("file:///data/x"), ("file:///data/", "x"));
        assert_eq!(split_location("http://host"), ("http://host", ""));
        assert_eq!(split_location("s3://b/dir/"), ("s3://b/dir/", ""));
    }

    #[test]
    fn virtual_refs_round_trip_with_each_prefix_once() {
        let etag = Some(SourcePin::ETag("\"9f3c\"".into()));
        let refs: Vec<_> = (0..1000u32)
            .map(|i| {
                let (location, pin) = match i % 3 {
                    0 => ("s3://era5/2020/t2m.nc", etag.clone()),
                    1 => ("s3://era5/2021/t2m.nc", Some(SourcePin::LastModified(1_700_000_000))),
                    _ => ("http://host/x", None),
                };
                (vec![i], virtual_ref(location, u64::from(i) * 10, pin))
            })
            .collect();
        let stored =
            ManifestShard::encode(ManifestId::random(), NodeId::random(), &[0], &refs, None).unwrap();
        let shard = ManifestShard::decode("m", &stored).unwrap();
        assert_eq!(shard.iter().collect::<Vec<_>>(), refs);
        assert_eq!(shard.lookup(&[4]).as_ref(), Some(&refs[4].1));
        let prefixes: Vec<&str> = shard.fb().location_prefixes().unwrap().iter().collect();
        assert_eq!(prefixes, vec!["s3://era5/2020/", "s3://era5/2021/", "http://host/"]);
        // The location strings are stored once: a thousand references cost far less than a
        // thousand URLs (about 60 bytes each on their own).
        assert!(stored.len() < 1000 * 60, "{} bytes", stored.len());
    }

    #[test]
    fn malformed_virtual_refs_are_corrupt() {
        let build = |prefix_index: u32, prefixes: &[&str], etag: bool, last_modified: u64, inline: bool| {
            let mut fbb = flatbuffers::FlatBufferBuilder::new();
            let coords = fbb.create_vector(&[0u32]);
            let name = fbb.create_string("f.nc");
            let pin_etag = etag.then(|| fbb.create_string("e"));
            let inline_data = inline.then(|| fbb.create_vector(&[1u8]));
            let entry = fb::ChunkRef::create(
                &mut fbb,
                &fb::ChunkRefArgs {
                    coords: Some(coords),
                    location_prefix: prefix_index,
                    location_name: Some(name),
                    pin_etag,
                    pin_last_modified: last_modified,
                    inline_data,
                    length: 1,
                    ..Default::default()
                },
            );
            let refs = fbb.create_vector(&[entry]);
            let strings: Vec<_> = prefixes.iter().map(|p| fbb.create_string(p)).collect();
            let location_prefixes = (!prefixes.is_empty()).then(|| fbb.create_vector(&strings));
            let block = fbb.create_vector(&[0u32]);
            let manifest = fb::Manifest::create(
                &mut fbb,
                &fb::ManifestArgs {
                    id: Some(&ManifestId::random().to_fb()),
                    node_id: Some(&NodeId::random().to_fb()),
                    block: Some(block),
                    refs: Some(refs),
                    location_prefixes,
                },
            );
            fbb.finish_minimal(manifest);
            header::encode(ObjectType::Manifest, fbb.finished_data(), None).unwrap()
        };
        assert!(ManifestShard::decode("m", &build(0, &["s3://b/"], true, 0, false)).is_ok());
        for (stored, reason) in [
            (build(1, &["s3://b/"], false, 0, false), "location prefix 1 of 1"),
            (build(0, &[], false, 0, false), "location prefix 0 of 0"),
            (build(0, &["s3://b/"], true, 7, false), "two pins"),
            (build(0, &["s3://b/"], false, 0, true), "also has inline data"),
        ] {
            let err = ManifestShard::decode("m", &stored).err().expect(reason).to_string();
            assert!(err.contains(reason), "{err} should mention {reason}");
        }
    }
}
