//! Drivers that run an elementwise update rule over a tensor, its rows, or a subset of rows,
//! on one thread or split across the current rayon pool.
//!
//! Every rule is elementwise: element `i` of the result depends only on element `i` of the
//! parameter, gradient and state. How the work is cut into pieces therefore cannot change a
//! single bit of the result, whatever the number of threads. Nothing here allocates:
//! `rayon::join` keeps its jobs on the stack.

use hinet_autograd::Float;

/// Elements per piece when a tensor is split across threads.
pub(crate) const CHUNK: usize = 16 * 1024;

/// One optimiser's elementwise update, with this step's constants baked in.
///
/// `s1` and `s2` are the rule's state slices (same length as `p`), or empty when the rule
/// keeps fewer buffers (plain SGD keeps none, momentum SGD and Adagrad one, Adam two).
/// `l2` is the coupled L2 coefficient of these elements: the rule adds `l2 * p` to the
/// (clipped) gradient. The drivers pass [`L2::touched`] for elements that have a gradient and
/// [`L2::untouched`] for rows of a table that the row gradient does not list.
pub(crate) trait Kernel<F>: Sync {
    fn apply(&self, p: &mut [F], g: &[F], s1: &mut [F], s2: &mut [F], l2: F);
}

/// Coupled L2 coefficients of one parameter at one step.
///
/// `untouched` is the group's coupled weight decay (0 for AdamW, whose decay is decoupled and
/// baked into its kernel); `touched` adds the group's `row_l2`, computed once in f64 as
/// `weight_decay + row_l2`, so `row_l2 = 0` gives exactly the coefficient of before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct L2<F> {
    pub touched: F,
    pub untouched: F,
}

fn split<F>(s: &mut [F], mid: usize) -> (&mut [F], &mut [F]) {
    if s.is_empty() {
        (Default::default(), Default::default())
    } else {
        s.split_at_mut(mid)
    }
}

fn row<F>(s: &mut [F], r: usize, width: usize) -> &mut [F] {
    if s.is_empty() {
        s
    } else {
        &mut s[r * width..(r + 1) * width]
    }
}

/// A dense gradient over the whole tensor.
/// Every element has a gradient, so every element gets `l2` (the touched coefficient).
pub(crate) fn dense<F: Float, K: Kernel<F>>(k: &K, p: &mut [F], g: &[F], s1: &mut [F], s2: &mut [F], l2: F, par: bool) {
    if !par || p.len() <= CHUNK {
        k.apply(p, g, s1, s2, l2);
        return;
    }
    // Cut on a chunk boundary near the middle; the pieces only decide who computes what.
    let mid = (p.len().div_ceil(CHUNK) / 2) * CHUNK;
    let (pa, pb) = p.split_at_mut(mid);
    let (ga, gb) = g.split_at(mid);
    let (s1a, s1b) = split(s1, mid);
    let (s2a, s2b) = split(s2, mid);
    rayon::join(
        || dense(k, pa, ga, s1a, s2a, l2, true),
        || dense(k, pb, gb, s1b, s2b, l2, true),
    );
}

/// Row gradient of a table in a dense group: untouched rows get a zero gradient, so the result
/// is exactly the dense update with the expanded gradient (Adam still decays their moments).
/// Listed rows get `l2.touched`, the others `l2.untouched` (no row penalty).
/// `rows` are global row indices (sorted, unique); this piece starts at row `row0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_from_rows<F: Float, K: Kernel<F>>(
    k: &K,
    p: &mut [F],
    s1: &mut [F],
    s2: &mut [F],
    width: usize,
    rows: &[usize],
    vals: &[F],
    zeros: &[F],
    l2: L2<F>,
    row0: usize,
    par: bool,
) {
    if width == 0 {
        return;
    }
    let n_rows = p.len() / width;
    if par && p.len() > CHUNK && n_rows >= 2 {
        let mid_row = n_rows / 2;
        let cut = rows.partition_point(|&r| r < row0 + mid_row);
        let (pa, pb) = p.split_at_mut(mid_row * width);
        let (s1a, s1b) = split(s1, mid_row * width);
        let (s2a, s2b) = split(s2, mid_row * width);
        let (ra, rb) = rows.split_at(cut);
        let (va, vb) = vals.split_at(cut * width);
        rayon::join(
            || dense_from_rows(k, pa, s1a, s2a, width, ra, va, zeros, l2, row0, true),
            || dense_from_rows(k, pb, s1b, s2b, width, rb, vb, zeros, l2, row0 + mid_row, true),
        );
        return;
    }
    let mut next = 0;
    for r in 0..n_rows {
        let (g, c) = if next < rows.len() && rows[next] == row0 + r {
            next += 1;
            (&vals[(next - 1) * width..next * width], l2.touched)
        } else {
            (zeros, l2.untouched)
        };
        k.apply(
            &mut p[r * width..(r + 1) * width],
            g,
            row(s1, r, width),
            row(s2, r, width),
            c,
        );
    }
}

/// Lazy update: only the listed rows of the table and of its state change (each with
/// `l2.touched`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn lazy_rows<F: Float, K: Kernel<F>>(
    k: &K,
    p: &mut [F],
    s1: &mut [F],
    s2: &mut [F],
    width: usize,
    rows: &[usize],
    vals: &[F],
    l2: L2<F>,
    row0: usize,
    par: bool,
) {
    if width == 0 {
        return;
    }
    if par && rows.len() >= 2 && rows.len() * width > CHUNK {
        let mid = rows.len() / 2;
        // Rows are sorted and unique, so the table splits cleanly before row `rows[mid]`.
        let cut_row = rows[mid] - row0;
        let (pa, pb) = p.split_at_mut(cut_row * width);
        let (s1a, s1b) = split(s1, cut_row * width);
        let (s2a, s2b) = split(s2, cut_row * width);
        let (ra, rb) = rows.split_at(mid);
        let (va, vb) = vals.split_at(mid * width);
        rayon::join(
            || lazy_rows(k, pa, s1a, s2a, width, ra, va, l2, row0, true),
            || lazy_rows(k, pb, s1b, s2b, width, rb, vb, l2, row0 + cut_row, true),
        );
        return;
    }
    for (j, &r) in rows.iter().enumerate() {
        let r = r - row0;
        k.apply(
            &mut p[r * width..(r + 1) * width],
            &vals[j * width..(j + 1) * width],
            row(s1, r, width),
            row(s2, r, width),
            l2.touched,
        );
    }
}
