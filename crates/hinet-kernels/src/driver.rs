//! The blocked GEMM driver: cache blocking, packing, the macro-kernel loops
//! around the microkernel, edge tiles, and the rayon split over macro-tiles.

use crate::blocking::blocking;
use crate::epilogue::{Activation, Epilogue, scale_c};
use crate::error::GemmError;
use crate::kernel::{KernelSpec, MAX_NR, MAX_TILE, TileEpilogue};
use crate::pack::with_pack_buffers;
use crate::small_m;
use crate::view::{MatMut, MatRef};

/// Below this many flops (2 m n k) a product stays on the calling thread: about 8 us of
/// single-core work. Waking a second worker costs a few us, but HiNet's many small per-expert
/// and per-scenario products are where a training step is serial; measured on bench-default,
/// 2 threads (alternating binaries, one sitting): 1 MFLOP beats 4 MFLOP by 4 % at B = 256 and
/// 4-5 % at B = 1024, with no difference at B = 4096, and 32 MFLOP lost 18 %.
pub(crate) const PAR_MIN_FLOPS: usize = 1 << 20;

/// Relative cost of packing one element versus one multiply-add, used only to
/// choose how to split C among threads: splitting along M makes every thread
/// pack its own copy of B, splitting along N its own copy of A.
const PACK_COST_MACS: usize = 8;

/// A validated product in raw-pointer form. Element `(i, j)` of X lives at
/// `x + i * rs_x + j * cs_x`; every view was bounds-checked when it was built.
#[derive(Clone, Copy)]
pub(crate) struct Problem {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub beta: f32,
    pub a: *const f32,
    pub rsa: usize,
    pub csa: usize,
    pub b: *const f32,
    pub rsb: usize,
    pub csb: usize,
    pub c: *mut f32,
    pub rsc: usize,
    pub csc: usize,
    /// Null for no bias, otherwise `n` floats.
    pub bias: *const f32,
    pub relu: bool,
}

// SAFETY: a Problem is only shared among the tasks of one `run` call, which
// read A, B and the bias (never written during the call) and write disjoint
// rectangles of C (the split below hands each task its own rows x cols range,
// and the view's strides were checked not to alias).
unsafe impl Send for Problem {}
// SAFETY: see `Send`.
unsafe impl Sync for Problem {}

impl Problem {
    /// The raw form of `C = act(alpha op(A) op(B) + beta C + bias)` over views whose shapes
    /// [`check_shapes`] accepted.
    fn of(
        alpha: f32,
        a: &MatRef<'_, f32>,
        b: &MatRef<'_, f32>,
        beta: f32,
        c: &mut MatMut<'_, f32>,
        epi: &Epilogue<'_, f32>,
    ) -> Problem {
        Problem {
            m: a.rows(),
            n: b.cols(),
            k: a.cols(),
            alpha,
            beta,
            a: a.ptr(),
            rsa: a.row_stride(),
            csa: a.col_stride(),
            b: b.ptr(),
            rsb: b.row_stride(),
            csb: b.col_stride(),
            c: c.ptr_mut(),
            rsc: c.row_stride(),
            csc: c.col_stride(),
            bias: epi.bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
            relu: epi.activation == Activation::Relu,
        }
    }
}

/// Checks shapes and bias for `C = op(A) op(B)`; returns `(m, n, k)`.
pub(crate) fn check_shapes<T>(
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
    c: &MatMut<'_, T>,
    epi: &Epilogue<'_, T>,
) -> Result<(usize, usize, usize), GemmError> {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    if b.rows() != k || c.rows() != m || c.cols() != n {
        return Err(GemmError::DimensionMismatch {
            a: (a.rows(), a.cols()),
            b: (b.rows(), b.cols()),
            c: (c.rows(), c.cols()),
        });
    }
    epi.check(n)?;
    Ok((m, n, k))
}

/// `C = act(alpha op(A) op(B) + beta C + bias)` with kernel `spec`; `few_columns` lets a
/// product of at most [`small_m::FEW_COLUMNS`] columns run as dot products (`f32` operands
/// only: that path does not round them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_with_spec(
    spec: &KernelSpec,
    few_columns: bool,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    mut c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    let (m, n, k) = check_shapes(&a, &b, &c, &epi)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (rsc, csc) = (c.row_stride(), c.col_stride());
    if alpha == 0.0 || k == 0 {
        // BLAS semantics: with alpha == 0 A and B are not read, so NaN in them
        // does not leak into C.
        // SAFETY: c is a checked m x n view.
        unsafe { scale_c(m, n, beta, c.ptr_mut(), rsc, csc, &epi) };
        return Ok(());
    }
    let p = Problem::of(alpha, &a, &b, beta, &mut c, &epi);
    // The few-rows path serves both precisions in f32: it reads the weights in place once, so it
    // is bound by their bytes, which rounding the operands would not reduce (docs/kernels.md).
    if small_m::applies(&p) {
        // SAFETY: as below; `applies` checked the rows and strides the path needs.
        unsafe { small_m::run(spec.kind, false, &p) };
        return Ok(());
    }
    if few_columns && small_m::applies_columns(&p) {
        // SAFETY: as below; `applies_columns` checked the strides the path needs.
        unsafe { run_few_columns(spec.kind, false, &p) };
        return Ok(());
    }
    // SAFETY: p was built from checked views; `c` is exclusively borrowed for
    // the duration of the call.
    unsafe { run(spec, &p) };
    Ok(())
}

/// `C = act(alpha op(A) op(B) + beta C + bias)` through the few-rows path of `kind` (its SIMD
/// body, or with `twin` its portable twin), or with `few_columns` through that path's use for
/// few columns and any rows, for the tests; `Ok(false)` when the shapes or strides are not the
/// path's (nothing is computed then).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_dot_path(
    kind: crate::dispatch::KernelKind,
    twin: bool,
    few_columns: bool,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    mut c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<bool, GemmError> {
    if !kind.is_available() {
        return Err(GemmError::KernelUnavailable(kind));
    }
    let (m, n, k) = check_shapes(&a, &b, &c, &epi)?;
    let p = Problem::of(alpha, &a, &b, beta, &mut c, &epi);
    let applies = if few_columns {
        small_m::applies_columns(&p)
    } else {
        small_m::applies(&p)
    };
    if m == 0 || n == 0 || k == 0 || !applies {
        return Ok(false);
    }
    // SAFETY: checked views, the path's layout checked, `kind` available on this CPU.
    unsafe {
        if few_columns {
            run_few_columns(kind, twin, &p);
        } else {
            small_m::run(kind, twin, &p);
        }
    }
    Ok(true)
}

/// A product of few columns ([`small_m::applies_columns`]) as dot products, its rows split
/// among rayon workers in blocks of [`small_m::SMALL_M`] when it is large enough.
///
/// # Safety
/// As [`run`], and `applies_columns(p)`.
pub(crate) unsafe fn run_few_columns(kind: crate::dispatch::KernelKind, twin: bool, p: &Problem) {
    let blocks = p.m.div_ceil(small_m::SMALL_M);
    let tasks = if flops(p.m, p.n, p.k) < PAR_MIN_FLOPS {
        1
    } else {
        rayon::current_num_threads().min(blocks)
    };
    let rows = |t: usize| {
        let from = (t * blocks / tasks * small_m::SMALL_M).min(p.m);
        let to = ((t + 1) * blocks / tasks * small_m::SMALL_M).min(p.m);
        // SAFETY: the tasks' row ranges partition C's rows; forwarded contract.
        unsafe { small_m::run_rows(kind, twin, p, from, to) };
    };
    if tasks <= 1 {
        rows(0);
    } else {
        par_range(0, tasks, &rows);
    }
}

/// Whether `C = op(A) op(B)` over these views takes the few-rows path (for the tests).
pub(crate) fn takes_few_rows_path(a: &MatRef<'_, f32>, b: &MatRef<'_, f32>, c: &mut MatMut<'_, f32>) -> bool {
    let p = Problem::of(1.0, a, b, 0.0, c, &Epilogue::none());
    p.m > 0 && p.n > 0 && p.k > 0 && small_m::applies(&p)
}

/// `2 m n k`, the flops of an `m x k` by `k x n` product (saturating), which the split
/// thresholds compare against [`PAR_MIN_FLOPS`].
pub(crate) fn flops(m: usize, n: usize, k: usize) -> usize {
    2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k)
}

/// Splits the product over rayon workers (or not) and runs it.
///
/// # Safety
/// `p` must describe valid, in-bounds views with `m, n, k >= 1`, `C` not
/// aliasing A, B or the bias.
pub(crate) unsafe fn run(spec: &KernelSpec, p: &Problem) {
    let flops = flops(p.m, p.n, p.k);
    // Size first: a small product never asks rayon for its pool (which would start the global one).
    let threads = if flops < PAR_MIN_FLOPS {
        1
    } else {
        rayon::current_num_threads()
    };
    if threads <= 1 {
        // SAFETY: the whole of C, forwarded contract.
        unsafe { serial(spec, p, 0, p.m, 0, p.n) };
        return;
    }
    let (tm, tn) = choose_grid(spec, p, threads);
    let mt = p.m.div_ceil(spec.mr);
    let nt = p.n.div_ceil(spec.nr);
    let task = |t: usize| {
        let (ti, tj) = (t / tn, t % tn);
        // Chunk boundaries fall on whole MR x NR tiles, so the tile grid (and
        // which tiles are edge tiles) is the same as on one thread.
        let i0 = (ti * mt / tm * spec.mr).min(p.m);
        let i1 = ((ti + 1) * mt / tm * spec.mr).min(p.m);
        let j0 = (tj * nt / tn * spec.nr).min(p.n);
        let j1 = ((tj + 1) * nt / tn * spec.nr).min(p.n);
        if i0 < i1 && j0 < j1 {
            // SAFETY: the (ti, tj) chunks partition C, so tasks write disjoint parts.
            unsafe { serial(spec, p, i0, i1, j0, j1) };
        }
    };
    par_range(0, tm * tn, &task);
}

/// Runs `f(lo..hi)` with recursive `rayon::join`, which needs no allocation.
fn par_range(lo: usize, hi: usize, f: &(impl Fn(usize) + Sync)) {
    match hi - lo {
        0 => {}
        1 => f(lo),
        len => {
            let mid = lo + len / 2;
            rayon::join(|| par_range(lo, mid, f), || par_range(mid, hi, f));
        }
    }
}

/// Picks a `tm x tn` grid of macro-tiles (`tm * tn == threads`) that
/// minimises the largest chunk's multiply-adds plus its packing work.
fn choose_grid(spec: &KernelSpec, p: &Problem, threads: usize) -> (usize, usize) {
    let mt = p.m.div_ceil(spec.mr);
    let nt = p.n.div_ceil(spec.nr);
    let mut best = (threads, 1);
    let mut best_cost = usize::MAX;
    for tm in 1..=threads {
        if !threads.is_multiple_of(tm) {
            continue;
        }
        let tn = threads / tm;
        if tm > mt || tn > nt {
            continue;
        }
        let rows = mt.div_ceil(tm) * spec.mr;
        let cols = nt.div_ceil(tn) * spec.nr;
        let cost = rows * cols + PACK_COST_MACS * (rows + cols);
        if cost < best_cost {
            best_cost = cost;
            best = (tm, tn);
        }
    }
    if best_cost == usize::MAX {
        // Fewer tiles than threads in both directions: split the longer one.
        if mt >= nt {
            (mt.min(threads), 1)
        } else {
            (1, nt.min(threads))
        }
    } else {
        best
    }
}

/// The classic five loops on rows `i0..i1`, columns `j0..j1` of C, on this thread.
///
/// # Safety
/// As [`run`]; `i0 < i1 <= m`, `j0 < j1 <= n`, and no other thread touches
/// this rectangle of C during the call.
unsafe fn serial(spec: &KernelSpec, p: &Problem, i0: usize, i1: usize, j0: usize, j1: usize) {
    let (m, n, k) = (i1 - i0, j1 - j0, p.k);
    let blk = blocking(spec, k);
    let nc_max = blk.nc.min(n.next_multiple_of(spec.nr));
    let a_len = blk.mc.next_multiple_of(spec.mr) * blk.kc;
    let b_len = nc_max.next_multiple_of(spec.nr) * blk.kc;
    with_pack_buffers(a_len, b_len, |abuf, bbuf| {
        let mut jc = 0;
        while jc < n {
            let nc = blk.nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = blk.kc.min(k - pc);
                // Packed slots per row of a micro-panel (two k per slot for bf16 pairs).
                let depth = kc.div_ceil(spec.k_per_slot);
                let first = pc == 0;
                let last = pc + kc == k;
                // SAFETY: rows pc..pc+kc, columns j0+jc..j0+jc+nc of B are in
                // the view; bbuf holds b_len >= ceil(nc / NR) * NR * kc floats.
                unsafe {
                    let src = p.b.add(pc * p.rsb + (j0 + jc) * p.csb);
                    (spec.pack_b)(nc, kc, src, p.csb, p.rsb, bbuf);
                }
                let epi = TileEpilogue {
                    alpha: p.alpha,
                    // Later K blocks accumulate onto what the first one stored.
                    beta: if first { p.beta } else { 1.0 },
                    bias: std::ptr::null(),
                    relu: last && p.relu,
                };
                let mut ic = 0;
                while ic < m {
                    let mc = blk.mc.min(m - ic);
                    // SAFETY: rows i0+ic..+mc, columns pc..pc+kc of A are in
                    // the view; abuf holds a_len >= ceil(mc / MR) * MR * kc floats.
                    unsafe {
                        let src = p.a.add((i0 + ic) * p.rsa + pc * p.csa);
                        (spec.pack_a)(mc, kc, src, p.rsa, p.csa, abuf);
                    }
                    let mut jr = 0;
                    while jr < nc {
                        let nr = spec.nr.min(nc - jr);
                        let col = j0 + jc + jr;
                        let tile_epi = TileEpilogue {
                            bias: if last && !p.bias.is_null() {
                                // SAFETY: col < n, inside the bias row.
                                unsafe { p.bias.add(col) }
                            } else {
                                std::ptr::null()
                            },
                            ..epi
                        };
                        // SAFETY: panel jr / NR of packed B.
                        let bp = unsafe { bbuf.add(jr * depth) };
                        let mut ir = 0;
                        while ir < mc {
                            let mr = spec.mr.min(mc - ir);
                            // SAFETY: panel ir / MR of packed A; (row, col) is
                            // inside this task's rectangle of C.
                            unsafe {
                                let ap = abuf.add(ir * depth);
                                let cp = p.c.add((i0 + ic + ir) * p.rsc + col * p.csc);
                                tile(spec, kc, ap, bp, cp, p.rsc, p.csc, mr, nr, &tile_epi);
                            }
                            ir += spec.mr;
                        }
                        jr += spec.nr;
                    }
                    ic += blk.mc;
                }
                pc += kc;
            }
            jc += blk.nc;
        }
    });
}

/// Scratch tile for edges, aligned like the packed panels.
#[repr(C, align(64))]
struct ScratchTile([f32; MAX_TILE]);

/// One `mr x nr` tile of C (`mr <= MR`, `nr <= NR`). Full tiles with unit
/// column stride go straight to the microkernel; edge tiles and strided C go
/// through an on-stack scratch tile, so the kernel never reads or writes
/// outside C, and it still runs the very same instruction sequence (the
/// packed operands are zero-padded), which keeps results independent of
/// where a tile falls.
///
/// # Safety
/// `ap`/`bp` are packed micro-panels of depth `kc`; `c` is valid for an
/// `mr x nr` tile with strides `rsc`, `csc`; `epi.bias` is null or holds `nr` floats.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn tile(
    spec: &KernelSpec,
    kc: usize,
    ap: *const f32,
    bp: *const f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    mr: usize,
    nr: usize,
    epi: &TileEpilogue,
) {
    if mr == spec.mr && nr == spec.nr && csc == 1 {
        // SAFETY: a full tile with unit column stride, as the kernel requires.
        unsafe { (spec.kernel)(kc, ap, bp, c, rsc, epi) };
        return;
    }
    let snr = spec.nr;
    let mut scratch = ScratchTile([0.0; MAX_TILE]);
    let t = scratch.0.as_mut_ptr();
    if epi.beta != 0.0 {
        for i in 0..mr {
            for j in 0..nr {
                // SAFETY: (i, j) is inside both the C tile and the scratch tile.
                unsafe { *t.add(i * snr + j) = *c.add(i * rsc + j * csc) };
            }
        }
    }
    let mut bias_pad = [0.0f32; MAX_NR];
    let mut local = *epi;
    if !epi.bias.is_null() && nr < snr {
        for (j, slot) in bias_pad.iter_mut().enumerate().take(nr) {
            // SAFETY: j < nr bias entries exist.
            *slot = unsafe { *epi.bias.add(j) };
        }
        local.bias = bias_pad.as_ptr();
    }
    // SAFETY: the scratch tile is a full MR x NR tile with row stride NR.
    unsafe { (spec.kernel)(kc, ap, bp, t, snr, &local) };
    for i in 0..mr {
        for j in 0..nr {
            // SAFETY: as for the copy-in.
            unsafe { *c.add(i * rsc + j * csc) = *t.add(i * snr + j) };
        }
    }
}
