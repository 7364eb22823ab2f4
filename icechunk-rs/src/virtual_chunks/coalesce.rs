//! Coalescing: neighbouring byte ranges of one object read with one request.
//!
//! Chunks of a NetCDF/HDF5 variable usually sit one after the other in the file, so reading
//! many of them as separate GETs pays one round trip each for a few KiB. A request per run of
//! close ranges pays one round trip for the run, at the price of the gap bytes in between.

use std::ops::Range;

/// Ranges at most this far apart are read together (the gap is read and dropped).
pub const MAX_GAP: u64 = 64 * 1024;
/// A merged request never grows past this many bytes (one range alone may be larger).
pub const MAX_MERGED: u64 = 8 * 1024 * 1024;

/// One request of a plan, and the parts of it each original request wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub range: Range<u64>,
    /// (index of the original request, its range in the object).
    pub parts: Vec<(usize, Range<u64>)>,
}

impl Fetch {
    /// Where `part` lies in the bytes of this fetch.
    pub fn slice_of(&self, part: &Range<u64>) -> Range<usize> {
        (part.start - self.range.start) as usize..(part.end - self.range.start) as usize
    }
}

/// The requests that read `ranges` (of one object, any order, overlaps allowed): sorted by
/// start, a range joins the current request when the gap to it is at most `max_gap` and the
/// request stays within `max_merged` bytes.
pub fn plan(ranges: &[(usize, Range<u64>)], max_gap: u64, max_merged: u64) -> Vec<Fetch> {
    let mut sorted: Vec<_> = ranges.to_vec();
    sorted.sort_by_key(|(index, range)| (range.start, range.end, *index));
    let mut fetches: Vec<Fetch> = Vec::new();
    for (index, range) in sorted {
        if let Some(last) = fetches.last_mut() {
            let end = last.range.end.max(range.end);
            let close = range.start <= last.range.end.saturating_add(max_gap);
            if close && end - last.range.start <= max_merged {
                last.range.end = end;
                last.parts.push((index, range));
                continue;
            }
        }
        fetches.push(Fetch { range: range.clone(), parts: vec![(index, range)] });
    }
    fetches
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranges(rs: &[Range<u64>]) -> Vec<(usize, Range<u64>)> {
        rs.iter().cloned().enumerate().collect()
    }

    #[test]
    fn close_ranges_merge_far_ones_do_not() {
        let fetches = plan(&ranges(&[200..300, 0..100, 100..150, 10_000..10_100]), 1000, 1 << 20);
        assert_eq!(fetches.len(), 2);
        assert_eq!(fetches[0].range, 0..300);
        assert_eq!(fetches[0].parts, vec![(1, 0..100), (2, 100..150), (0, 200..300)]);
        assert_eq!(fetches[1].range, 10_000..10_100);
        assert_eq!(fetches[1].slice_of(&(10_050..10_100)), 50..100);
        // The same with a gap limit below 9_700: two requests; with none allowed, three.
        assert_eq!(plan(&ranges(&[0..100, 100..200, 300..400]), 0, 1 << 20).len(), 2);
        assert_eq!(plan(&ranges(&[0..100, 101..200]), 0, 1 << 20).len(), 2);
    }

    #[test]
    fn merged_requests_stay_under_the_cap() {
        let merged = |cap| plan(&ranges(&[0..60, 60..120, 120..180]), 10, cap);
        let spans = |fetches: Vec<Fetch>| fetches.into_iter().map(|f| f.range).collect::<Vec<_>>();
        assert_eq!(spans(merged(130)), vec![0..120, 120..180]);
        assert_eq!(spans(merged(100)), vec![0..60, 60..120, 120..180]);
        assert_eq!(spans(merged(180)), vec![0..180]);
        // One range larger than the cap is read alone, whole.
        assert_eq!(plan(&[(0, 0..500)], 10, 100)[0].range, 0..500);
    }

    #[test]
    fn overlapping_and_repeated_ranges_share_a_request() {
        let fetches = plan(&ranges(&[0..100, 50..80, 0..100]), 0, 1 << 20);
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].range, 0..100);
        assert_eq!(fetches[0].parts.len(), 3);
        assert_eq!(fetches[0].slice_of(&(50..80)), 50..80);
    }

    proptest! {
        #[test]
        fn every_range_is_read_exactly_once_inside_its_fetch(
            raw in proptest::collection::vec((0u64..10_000, 0u64..3_000), 0..40),
            gap in 0u64..2_000,
            cap in 1u64..20_000,
        ) {
            let input: Vec<_> = raw.iter().map(|(s, l)| *s..s + l).enumerate().collect();
            let fetches = plan(&input, gap, cap);
            let mut seen: Vec<usize> = fetches.iter().flat_map(|f| f.parts.iter().map(|p| p.0)).collect();
            seen.sort();
            prop_assert_eq!(seen, (0..input.len()).collect::<Vec<_>>());
            for fetch in &fetches {
                for (index, part) in &fetch.parts {
                    prop_assert_eq!(part, &input[*index].1);
                    prop_assert!(fetch.range.start <= part.start && part.end <= fetch.range.end);
                }
                // A request holding more than one range respects the cap.
                if fetch.parts.len() > 1 {
                    prop_assert!(fetch.range.end - fetch.range.start <= cap);
                }
            }
        }
    }
}
