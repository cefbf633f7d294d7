//! Row-parallel loops for the rules that are not matrix products: ReLU masks, bias sums, gate
//! softmaxes and mixes, row gathers.
//!
//! The helpers split an *output* view into disjoint pieces with ndarray's `split_at` (no
//! `unsafe`, no allocation) and hand the pieces to rayon workers. Every piece is computed
//! exactly as the serial loop computes it, element by element and in the same order, and no
//! piece boundary ever cuts through a sum: a bias gradient is split over its columns, each
//! still summed over all rows in row order. So the results are bit-identical for any number of
//! threads, which the determinism tests check.

use crate::float::Float;
use ndarray::{ArrayView, ArrayView2, ArrayViewMut, ArrayViewMut1, Axis, Dimension, Slice};

/// Below this many elementary operations a loop stays on the calling thread: about 10-20 us
/// of work, where waking another worker (a few us) stops paying off.
pub(crate) const PAR_MIN_WORK: usize = 1 << 16;

/// Runs `f(first, piece)` on pieces of `out` split along `axis`, where `first` is the index
/// along `axis` at which the piece starts. The pieces run on the rayon pool when `work` (the
/// loop's elementary operations) reaches [`PAR_MIN_WORK`] and the pool has several threads;
/// otherwise `f(0, out)` runs here.
pub(crate) fn for_each_piece<T, D, G>(out: ArrayViewMut<'_, T, D>, axis: Axis, work: usize, f: &G)
where
    T: Send,
    D: Dimension,
    G: Fn(usize, ArrayViewMut<'_, T, D>) + Sync,
{
    let len = if axis.index() < out.ndim() { out.len_of(axis) } else { 0 };
    // Sizes first: small work never asks rayon for its pool (which would start the global one).
    let threads = if work < PAR_MIN_WORK || len < 2 {
        1
    } else {
        rayon::current_num_threads()
    };
    if threads <= 1 {
        f(0, out);
        return;
    }
    split(0, out, axis, threads.min(len), f);
}

/// The part of an input that lines up with a piece split along axis 0: its rows
/// `first..first + piece_shape[0]` (all of it when the piece has no axes).
pub(crate) fn rows_of<'a, T, D: Dimension>(
    v: ArrayView<'a, T, D>,
    first: usize,
    piece_shape: &[usize],
) -> ArrayView<'a, T, D> {
    match piece_shape.first() {
        Some(&len) if v.ndim() > 0 => v.slice_axis_move(Axis(0), Slice::from(first..first + len)),
        _ => v,
    }
}

fn split<T, D, G>(first: usize, out: ArrayViewMut<'_, T, D>, axis: Axis, pieces: usize, f: &G)
where
    T: Send,
    D: Dimension,
    G: Fn(usize, ArrayViewMut<'_, T, D>) + Sync,
{
    if pieces <= 1 {
        f(first, out);
        return;
    }
    let half = pieces / 2;
    let mid = out.len_of(axis) * half / pieces;
    let (a, b) = out.split_at(axis, mid);
    rayon::join(
        || split(first, a, axis, half, f),
        || split(first + mid, b, axis, pieces - half, f),
    );
}

/// `gb[j] += sum over rows r of dz[r, j]`, rows in order (the bias gradient of a linear map).
/// Split over columns, so each column's sum is the serial one.
pub(crate) fn add_column_sums<F: Float>(gb: ArrayViewMut1<'_, F>, dz: ArrayView2<'_, F>) {
    let (rows, cols) = dz.dim();
    // The ops size the bias gradient from the same weight; a mismatch is an engine bug, never
    // a gradient to drop.
    assert_eq!(
        cols,
        gb.len(),
        "hinet-autograd: bias gradient: {cols} columns of dz for {} biases; this is a bug in the engine",
        gb.len()
    );
    for_each_piece(gb, Axis(0), rows * cols, &|first, mut piece: ArrayViewMut1<'_, F>| {
        let width = piece.len();
        match (piece.as_slice_mut(), dz.as_slice()) {
            // The common case: contiguous rows, summed with plain slices (vectorised).
            (Some(g), Some(d)) => {
                for row in d.chunks_exact(cols) {
                    for (g, &v) in g.iter_mut().zip(&row[first..first + width]) {
                        *g += v;
                    }
                }
            }
            _ => {
                for row in dz.rows() {
                    for (g, &v) in piece.iter_mut().zip(row.iter().skip(first)) {
                        *g += v;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    #[test]
    fn pieces_cover_the_output_once_on_any_thread_count() {
        for threads in [1, 2, 3, 7] {
            for rows in [1, 2, 5, 1000, 70_000] {
                let mut out = Array1::<u32>::zeros(rows);
                pool(threads).install(|| {
                    for_each_piece(out.view_mut(), Axis(0), rows * 4, &|first,
                                                                        mut piece: ArrayViewMut1<
                        '_,
                        u32,
                    >| {
                        for (i, v) in piece.iter_mut().enumerate() {
                            *v += (first + i) as u32 + 1;
                        }
                    })
                });
                assert!(
                    out.iter().enumerate().all(|(i, &v)| v == i as u32 + 1),
                    "{threads} threads, {rows} rows"
                );
            }
        }
    }

    #[test]
    fn column_sums_match_the_serial_loop_bit_for_bit() {
        // Awkward sizes: a column count that is not a multiple of anything, enough rows to split.
        let (rows, cols) = (997, 131);
        let dz = Array2::from_shape_fn((rows, cols), |(r, c)| ((r * 31 + c * 17) % 101) as f32 * 0.37 - 18.0);
        let mut serial = Array1::from_elem(cols, 0.5f32);
        for row in dz.rows() {
            for (g, &v) in serial.iter_mut().zip(row) {
                *g += v;
            }
        }
        for threads in [1, 2, 4] {
            let mut gb = Array1::from_elem(cols, 0.5f32);
            pool(threads).install(|| add_column_sums(gb.view_mut(), dz.view()));
            assert_eq!(gb, serial, "{threads} threads");
            // A transposed (non-contiguous) view takes the generic path and agrees too.
            let t = dz.t().to_owned();
            let mut gt = Array1::from_elem(cols, 0.5f32);
            pool(threads).install(|| add_column_sums(gt.view_mut(), t.t()));
            assert_eq!(gt, serial, "{threads} threads, strided");
        }
    }
}
