//! A step's logits as rows the caller owns and hands back ([`super::Device::recycle_rows`]):
//! [`RowPool`] refills rows it was given instead of allocating them. A fresh row is fresh
//! memory the kernel maps page by page on first write: 32 rows of Gemma 3's 262,144 logits
//! took 15 ms a step that way on a 2-core host, where refilling them takes 3 ms, and the copy
//! is spread over threads when it is large. Where the values arrive in pieces (a GPU's copy
//! over the bus, [`RowPool::fill_pieces`]), each piece is copied into its rows while the
//! next one arrives.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::mpsc;

/// Bytes each copying thread takes at least (below that a thread's start costs more than
/// the copy it takes over).
const BYTES_PER_THREAD: usize = 2 << 20;

/// Bytes of values one piece of [`RowPool::fill_pieces`] brings at least (whole rows): small
/// enough that the copy of the last piece into its rows is short, large enough that each
/// piece's copy over the bus runs at the bus's speed.
const PIECE_BYTES: usize = 2 << 20;

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

    /// `n` rows to fill, spare rows (emptied) first.
    fn take(&mut self, n: usize, width: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| match self.spare.pop() {
                Some(mut v) => {
                    v.clear();
                    v
                }
                None => Vec::with_capacity(width),
            })
            .collect()
    }

    /// `n` rows of `width` values (a spare row refilled for each where there is one) whose
    /// values arrive in pieces: `fetch(rows)` brings rows `rows.start .. rows.end` and returns
    /// their values (`width` each), called on this thread for consecutive ranges from row 0,
    /// each of at least [`PIECE_BYTES`] where the rows allow. Each piece is copied into its
    /// rows on other threads while `fetch` brings the next (where the copy is large enough to
    /// share out). The first error stops the fill and is returned; the rows taken so far go
    /// back to the spares.
    pub(crate) fn fill_pieces<'s, E>(
        &mut self,
        n: usize,
        width: usize,
        mut fetch: impl FnMut(Range<usize>) -> Result<&'s [f32], E>,
    ) -> Result<Vec<Vec<f32>>, E> {
        let width = width.max(1);
        let mut out = self.take(n, width);
        let per = (PIECE_BYTES / (width * 4)).clamp(1, n.max(1));
        let pieces = n.div_ceil(per);
        let threads = copy_threads(n * width * 4, pieces);
        let mut failed = None;
        if threads <= 1 || pieces <= 1 {
            for (i, rows) in out.chunks_mut(per).enumerate() {
                let from = i * per;
                match fetch(from..from + rows.len()) {
                    Ok(src) => copy_rows(rows, src, width),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        } else {
            let (tx, rx) = mpsc::channel::<Piece<'_, 's>>();
            let rx = Mutex::new(rx);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| copy_jobs(&rx, width));
                }
                for (i, rows) in out.chunks_mut(per).enumerate() {
                    let from = i * per;
                    match fetch(from..from + rows.len()) {
                        // A send fails only if every worker has stopped: copy it here.
                        Ok(src) => {
                            if let Err(mpsc::SendError((rows, src))) = tx.send((rows, src)) {
                                copy_rows(rows, src, width);
                            }
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                drop(tx);
            });
        }
        match failed {
            Some(e) => {
                self.give(out);
                Err(e)
            }
            None => Ok(out),
        }
    }

    /// `flat` as rows of `width` values, one vector a row (a trailing part shorter than
    /// `width` is left out): [`RowPool::fill_pieces`] with every piece there already.
    #[cfg(test)]
    pub(crate) fn fill(&mut self, flat: &[f32], width: usize) -> Vec<Vec<f32>> {
        let w = width.max(1);
        let got = self.fill_pieces(flat.len() / w, w, |r| {
            Ok::<_, std::convert::Infallible>(&flat[r.start * w..r.end * w])
        });
        match got {
            Ok(rows) => rows,
            Err(e) => match e {},
        }
    }
}

/// Threads to copy `bytes` in `rows` rows: one per [`BYTES_PER_THREAD`], at most the rows,
/// the machine's threads and [`THREADS_MAX`].
fn copy_threads(bytes: usize, rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let most = rows.min(cores).min(THREADS_MAX);
    (bytes / BYTES_PER_THREAD).min(most).max(1)
}

/// A piece for a copying thread: rows to fill and their values.
type Piece<'r, 's> = (&'r mut [Vec<f32>], &'s [f32]);

/// Copies the pieces sent on `jobs` into their rows until the sender is gone.
fn copy_jobs(jobs: &Mutex<mpsc::Receiver<Piece<'_, '_>>>, width: usize) {
    loop {
        // The lock is held only to take the next piece; a poisoned lock (a worker that
        // panicked while taking one) stops this worker too, and the sender copies the rest.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok((rows, src)) => copy_rows(rows, src, width),
            Err(_) => return,
        }
    }
}

/// Appends row `i` of `src` (rows of `width`) to `rows[i]`.
fn copy_rows(rows: &mut [Vec<f32>], src: &[f32], width: usize) {
    for (row, values) in rows.iter_mut().zip(src.chunks_exact(width)) {
        row.extend_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::{BYTES_PER_THREAD, PIECE_BYTES, RowPool, SPARE_MAX, copy_threads};

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

    /// What a fill gave, and the ranges of rows it asked for in order.
    type Asked = (Result<Vec<Vec<f32>>, String>, Vec<std::ops::Range<usize>>);

    /// `fill_pieces` over `src` (rows of `width`), recording the ranges asked for; `fail_at`
    /// makes that piece's fetch fail.
    fn pieces(pool: &mut RowPool, src: &[f32], width: usize, fail_at: Option<usize>) -> Asked {
        let mut asked = Vec::new();
        let got = pool.fill_pieces(src.len() / width, width, |r| {
            asked.push(r.clone());
            if fail_at == Some(asked.len() - 1) {
                return Err(format!("piece {} failed", asked.len() - 1));
            }
            Ok(&src[r.start * width..r.end * width])
        });
        (got, asked)
    }

    #[test]
    fn rows_that_arrive_in_pieces_equal_the_rows_and_are_asked_for_in_order() {
        // Rows of 1 MB (Gemma 3's logits): two a piece, copied on other threads where the
        // machine has them, while the next piece is fetched.
        let (rows, width) = (9, 262_144);
        let src = flat(rows, width, 0x3c);
        let mut pool = RowPool::default();
        pool.give((0..4).map(|_| vec![1.0; 8]).collect());
        let (got, asked) = pieces(&mut pool, &src, width, None);
        assert_eq!(bits(&got.unwrap()), expect(&src, width));
        let per = PIECE_BYTES / (width * 4);
        let want: Vec<_> = (0..rows.div_ceil(per))
            .map(|i| i * per..((i + 1) * per).min(rows))
            .collect();
        assert_eq!(asked, want);
        assert_eq!(pool.spare(), 0, "the four spare rows were refilled");
        // Small rows: one piece of many rows; rows wider than a piece: one row a piece.
        let small = flat(40, 3, 1);
        let (got, asked) = pieces(&mut pool, &small, 3, None);
        assert_eq!(bits(&got.unwrap()), expect(&small, 3));
        assert_eq!(asked, vec![0..40]);
        let wide_w = PIECE_BYTES / 4 + 1;
        let wide = flat(3, wide_w, 2);
        let (got, asked) = pieces(&mut pool, &wide, wide_w, None);
        assert_eq!(bits(&got.unwrap()), expect(&wide, wide_w));
        assert_eq!(asked, vec![0..1, 1..2, 2..3]);
        let (got, asked) = pieces(&mut pool, &[], 5, None);
        assert!(got.unwrap().is_empty() && asked.is_empty());
    }

    #[test]
    fn a_piece_that_fails_stops_the_fill_and_its_rows_go_back() {
        let (rows, width) = (9, 262_144);
        let src = flat(rows, width, 0x77);
        for fail_at in [0, 2] {
            let mut pool = RowPool::default();
            let (got, asked) = pieces(&mut pool, &src, width, Some(fail_at));
            assert_eq!(got.unwrap_err(), format!("piece {fail_at} failed"));
            assert_eq!(
                asked.len(),
                fail_at + 1,
                "nothing is fetched after the error"
            );
            assert_eq!(
                pool.spare(),
                rows,
                "the rows taken are kept for the next fill"
            );
            // The next fill refills them, every bit.
            let (got, _) = pieces(&mut pool, &src, width, None);
            assert_eq!(bits(&got.unwrap()), expect(&src, width));
        }
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
