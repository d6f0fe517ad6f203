//! A step's logits as rows the caller owns and hands back ([`super::Device::recycle_rows`]):
//! [`RowPool`] refills rows it was given instead of allocating them. A fresh row is fresh
//! memory the kernel maps page by page on first write: 32 rows of Gemma 3's 262,144 logits
//! took 15 ms a step that way on a 2-core host, where refilling them takes 3 ms, and the copy
//! is spread over threads when it is large.

/// Bytes each copying thread takes at least (below that a thread's start costs more than
/// the copy it takes over).
const BYTES_PER_THREAD: usize = 2 << 20;

/// Threads a copy takes at most.
const THREADS_MAX: usize = 8;

/// Spare rows kept at most (beyond it, rows handed back are dropped).
const SPARE_MAX: usize = 1024;

/// Rows handed back, to be refilled.
#[derive(Debug, Default)]
pub(crate) struct RowPool {
    spare: Vec<Vec<f32>>,
}

impl RowPool {
    /// Keeps `rows` for the next [`RowPool::fill`] (up to [`SPARE_MAX`] in all; rows that
    /// hold no memory are dropped).
    pub(crate) fn give(&mut self, rows: Vec<Vec<f32>>) {
        let room = SPARE_MAX.saturating_sub(self.spare.len());
        self.spare
            .extend(rows.into_iter().filter(|r| r.capacity() > 0).take(room));
    }

    /// How many rows wait to be refilled.
    #[cfg(test)]
    pub(crate) fn spare(&self) -> usize {
        self.spare.len()
    }

    /// `flat` as rows of `width` values, one vector a row (a trailing part shorter than
    /// `width` is left out), each a spare row refilled where there is one.
    pub(crate) fn fill(&mut self, flat: &[f32], width: usize) -> Vec<Vec<f32>> {
        let width = width.max(1);
        let n = flat.len() / width;
        let mut out: Vec<Vec<f32>> = (0..n)
            .map(|_| match self.spare.pop() {
                Some(mut v) => {
                    v.clear();
                    v
                }
                None => Vec::with_capacity(width),
            })
            .collect();
        let threads = copy_threads(n * width * 4, n);
        if threads <= 1 {
            copy_rows(&mut out, flat, width);
            return out;
        }
        let per = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = out.chunks_mut(per).zip(flat.chunks(per * width));
            let first = parts.next();
            for (rows, src) in parts {
                scope.spawn(move || copy_rows(rows, src, width));
            }
            if let Some((rows, src)) = first {
                copy_rows(rows, src, width);
            }
        });
        out
    }
}

/// Threads to copy `bytes` in `rows` rows: one per [`BYTES_PER_THREAD`], at most the rows,
/// the machine's threads and [`THREADS_MAX`].
fn copy_threads(bytes: usize, rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let most = rows.min(cores).min(THREADS_MAX);
    (bytes / BYTES_PER_THREAD).min(most).max(1)
}

/// Appends row `i` of `src` (rows of `width`) to `rows[i]`.
fn copy_rows(rows: &mut [Vec<f32>], src: &[f32], width: usize) {
    for (row, values) in rows.iter_mut().zip(src.chunks_exact(width)) {
        row.extend_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::{BYTES_PER_THREAD, RowPool, SPARE_MAX, copy_threads};

    fn flat(rows: usize, width: usize, salt: u32) -> Vec<f32> {
        (0..rows * width)
            .map(|i| f32::from_bits((i as u32).wrapping_mul(2_654_435_761) ^ salt))
            .collect()
    }

    fn bits(rows: &[Vec<f32>]) -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| r.iter().map(|v| f32::to_bits(*v)).collect())
            .collect()
    }

    fn expect(flat: &[f32], width: usize) -> Vec<Vec<u32>> {
        flat.chunks_exact(width)
            .map(|r| r.iter().map(|v| f32::to_bits(*v)).collect())
            .collect()
    }

    #[test]
    fn rows_handed_back_are_refilled_in_place() {
        let mut pool = RowPool::default();
        let first = pool.fill(&flat(3, 5, 0), 5);
        assert_eq!(bits(&first), expect(&flat(3, 5, 0), 5));
        let addrs: Vec<*const f32> = first.iter().map(Vec::as_ptr).collect();
        pool.give(first);
        assert_eq!(pool.spare(), 3);
        // The next rows are the same memory with the new values, every bit (NaN payloads
        // included: the salt makes some values NaNs).
        let second = pool.fill(&flat(3, 5, 0xffff), 5);
        assert_eq!(bits(&second), expect(&flat(3, 5, 0xffff), 5));
        let mut again: Vec<*const f32> = second.iter().map(Vec::as_ptr).collect();
        again.sort();
        let mut before = addrs;
        before.sort();
        assert_eq!(again, before);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn more_rows_than_spares_allocate_the_rest_and_a_short_tail_is_left_out() {
        let mut pool = RowPool::default();
        pool.give(vec![vec![1.0; 2]]);
        let src = flat(4, 3, 7);
        let rows = pool.fill(&src[..4 * 3 - 1], 3);
        assert_eq!(bits(&rows), expect(&src[..9], 3));
        assert!(pool.fill(&[], 3).is_empty());
        assert!(pool.fill(&src, 0).len() == src.len(), "width 0 reads as 1");
    }

    #[test]
    fn a_large_copy_spread_over_threads_equals_the_rows() {
        // Enough bytes for several threads where the machine has them; the rows must be the
        // same whichever way the copy was split.
        let (rows, width) = (37, 3 * BYTES_PER_THREAD / 4 / 8 + 3);
        let src = flat(rows, width, 0x55);
        let mut pool = RowPool::default();
        pool.give((0..5).map(|_| vec![9.0; 4]).collect());
        assert_eq!(bits(&pool.fill(&src, width)), expect(&src, width));
        assert!(copy_threads(rows * width * 4, rows) >= 1);
        assert_eq!(
            copy_threads(BYTES_PER_THREAD * 64, 3).min(3),
            copy_threads(BYTES_PER_THREAD * 64, 3)
        );
        assert_eq!(copy_threads(16, 100), 1);
        assert_eq!(
            copy_threads(BYTES_PER_THREAD * 64, 0),
            1,
            "no rows: no threads to start"
        );
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_rows() {
        let mut pool = RowPool::default();
        pool.give(vec![Vec::new(), Vec::with_capacity(0)]);
        assert_eq!(pool.spare(), 0, "rows without memory are not kept");
        pool.give((0..SPARE_MAX + 10).map(|_| vec![0.0]).collect());
        assert_eq!(pool.spare(), SPARE_MAX);
        pool.give(vec![vec![0.0]]);
        assert_eq!(pool.spare(), SPARE_MAX);
    }
}
