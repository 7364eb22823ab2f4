//! Virtual chunk references from Python: `IcechunkStore.set_virtual_ref(s)(_arr)` and
//! `Session.all_virtual_chunk_locations`. Setting references does no I/O; the work (checks,
//! interning locations) runs with the interpreter released.

use icechunk::format::manifest::SourcePin;
use icechunk::session::VirtualRef;
use pyo3::prelude::*;

use crate::errors::CoreResultExt;
use crate::runtime::future_into_py;
use crate::session::PySession;
use crate::store::PyStore;

/// A source pin as the Python layer passes it: an ETag, or a time in Unix seconds.
#[derive(FromPyObject)]
pub enum PinArg {
    ETag(String),
    LastModified(u64),
}

fn pin(arg: Option<PinArg>) -> Option<SourcePin> {
    arg.map(|p| match p {
        PinArg::ETag(etag) => SourcePin::ETag(etag),
        PinArg::LastModified(at) => SourcePin::LastModified(at),
    })
}

/// A reference as `set_virtual_refs` hands it over: coordinates, location, offset, length, pin.
type RefRow = (Vec<u32>, String, u64, u64, Option<PinArg>);

/// Little-endian u64 values, as numpy's `astype("<u8").tobytes()` gives them.
fn u64s(what: &str, bytes: &[u8]) -> PyResult<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!("{what}: not a whole number of uint64")));
    }
    Ok(bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).collect())
}

/// The C-order coordinates of flat index `i` of `grid`, plus `offset` (checked to fit).
fn grid_coords(mut i: u64, grid: &[u64], offset: &[u64]) -> Vec<u32> {
    let mut coords = vec![0u32; grid.len()];
    for d in (0..grid.len()).rev() {
        coords[d] = (i % grid[d] + offset[d]) as u32;
        i /= grid[d];
    }
    coords
}

#[pymethods]
impl PySession {
    /// Sets references `(coords, location, offset, length, pin)`; returns the coordinates
    /// left out because no container holds their location (with `validate_containers`).
    fn set_virtual_refs_list(
        &self,
        py: Python<'_>,
        array_path: String,
        refs: Vec<RefRow>,
        validate_containers: bool,
    ) -> PyResult<Vec<Vec<u32>>> {
        let refs: Vec<_> = refs
            .into_iter()
            .map(|(coords, location, offset, length, p)| {
                (coords, VirtualRef { location, offset, length, pin: pin(p) })
            })
            .collect();
        let session = self.session.clone();
        py.detach(|| session.set_virtual_refs(&array_path, refs, validate_containers)).py()
    }

    /// Sets the references of a chunk grid given flat, in C order (`locations[i]` ""
    /// skips chunk i), each coordinate shifted by `arr_offset`; one pin for all.
    #[allow(clippy::too_many_arguments)]
    fn set_virtual_refs_grid(
        &self,
        py: Python<'_>,
        array_path: String,
        grid_shape: Vec<u64>,
        arr_offset: Option<Vec<u64>>,
        locations: Vec<String>,
        offsets: &[u8],
        lengths: &[u8],
        checksum: Option<PinArg>,
        validate_containers: bool,
    ) -> PyResult<Vec<Vec<u32>>> {
        let (offsets, lengths) = (u64s("offsets", offsets)?, u64s("lengths", lengths)?);
        let cells: u64 = grid_shape.iter().product();
        if cells != locations.len() as u64
            || offsets.len() != locations.len()
            || lengths.len() != locations.len()
        {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "product of chunk_grid_shape ({cells}) != array lengths (locations {}, offsets {}, lengths {})",
                locations.len(),
                offsets.len(),
                lengths.len()
            )));
        }
        let arr_offset = arr_offset.unwrap_or_else(|| vec![0; grid_shape.len()]);
        if arr_offset.len() != grid_shape.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "arr_offset has {} dimensions, chunk_grid_shape {}",
                arr_offset.len(),
                grid_shape.len()
            )));
        }
        if grid_shape.iter().zip(&arr_offset).any(|(n, o)| n.saturating_add(*o) > u64::from(u32::MAX) + 1) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "chunk coordinates of grid {grid_shape:?} shifted by {arr_offset:?} do not fit in 32 bits"
            )));
        }
        let pin = pin(checksum);
        let session = self.session.clone();
        py.detach(|| {
            // Streamed into the session: no second list of a million references.
            let refs =
                locations.into_iter().enumerate().filter(|(_, l)| !l.is_empty()).map(|(i, location)| {
                    let coords = grid_coords(i as u64, &grid_shape, &arr_offset);
                    (
                        coords,
                        VirtualRef { location, offset: offsets[i], length: lengths[i], pin: pin.clone() },
                    )
                });
            session.set_virtual_refs(&array_path, refs, validate_containers).py()
        })
    }

    /// Every distinct location of the virtual chunks this session sees, sorted.
    fn all_virtual_chunk_locations(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let session = self.session.clone();
        crate::runtime::block_on(py, async move { session.all_virtual_chunk_locations().await.py() })
    }

    fn all_virtual_chunk_locations_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session.clone();
        future_into_py(py, async move { session.all_virtual_chunk_locations().await.py() })
    }
}

#[pymethods]
impl PyStore {
    fn set_virtual_ref(
        &self,
        key: String,
        location: String,
        offset: u64,
        length: u64,
        checksum: Option<PinArg>,
        validate_container: bool,
    ) -> PyResult<()> {
        let reference = VirtualRef { location, offset, length, pin: pin(checksum) };
        self.store.set_virtual_ref(&key, reference, validate_container).py()
    }
}
