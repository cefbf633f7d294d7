//! Packing A and B into contiguous, aligned micro-panels, and the reusable
//! per-thread buffers they live in.
//!
//! ```text
//!  A block (mc x kc), MR = 3 shown        packed A: one micro-panel after another
//!   row 0: a00 a01 a02 ...                 [a00 a10 a20 | a01 a11 a21 | a02 ...]  panel 0
//!   row 1: a10 a11 a12 ...                 [a30 a40 a50 | a31 a41 a51 | ...    ]  panel 1
//!   row 2: a20 a21 a22 ...                 ...the last panel is zero-padded to MR rows
//!   ...
//!  B block (kc x nc) is packed the same way with its columns as "rows":
//!   NR consecutive values of one row of B, then the next k, ...
//! ```
//!
//! After packing, the microkernel reads both operands with unit stride and in
//! exactly the order it consumes them, whatever the strides of the original
//! views were (row-major, column-major, transposed, sub-matrix). The zero
//! padding means edge tiles run the same kernel without out-of-bounds reads.

use std::cell::RefCell;

/// Packs an `n x k` operand into panels of `R` along `n`:
/// `dst[p * R * k + kk * R + r] = src[(p * R + r) * s_n + kk * s_k]`, with
/// zeros where `p * R + r >= n`. For A, `n` runs over rows (`s_n = rs_a`,
/// `s_k = cs_a`); for B, over columns (`s_n = cs_b`, `s_k = rs_b`).
///
/// # Safety
/// `src` must be readable at every `i * s_n + kk * s_k` for `i < n`, `kk < k`,
/// and `dst` writable for `n.div_ceil(R) * R * k` floats.
#[inline(always)]
pub(crate) unsafe fn pack_panels<const R: usize>(
    n: usize,
    k: usize,
    src: *const f32,
    s_n: usize,
    s_k: usize,
    dst: *mut f32,
) {
    for p in 0..n.div_ceil(R) {
        let r0 = p * R;
        let rows = R.min(n - r0);
        // SAFETY: panel p starts inside dst (p < number of panels).
        let d = unsafe { dst.add(p * R * k) };
        // SAFETY: r0 < n, so this is an element of the source view.
        let s = unsafe { src.add(r0 * s_n) };
        if rows == R && s_n == 1 {
            // Each k step is R contiguous values (row-major B, column-major A):
            // a straight copy.
            for kk in 0..k {
                // SAFETY: reads R in-view values, writes the kk-th R-slot of the panel.
                unsafe { std::ptr::copy_nonoverlapping(s.add(kk * s_k), d.add(kk * R), R) };
            }
        } else if rows == R && s_k == 1 {
            // R rows, each contiguous along k (row-major A, column-major B):
            // read R streams, write one interleaved stream. Blocking k by 8
            // keeps the R source lines hot while the loop is unrolled.
            let mut kk = 0;
            while kk + 8 <= k {
                for r in 0..R {
                    // SAFETY: row r < R <= n - r0 and columns kk..kk+8 < k are in the view.
                    let row = unsafe { &*s.add(r * s_n + kk).cast::<[f32; 8]>() };
                    for (q, &v) in row.iter().enumerate() {
                        // SAFETY: slot (kk + q, r) of the panel.
                        unsafe { *d.add((kk + q) * R + r) = v };
                    }
                }
                kk += 8;
            }
            for kq in kk..k {
                for r in 0..R {
                    // SAFETY: in-view read, in-panel write.
                    unsafe { *d.add(kq * R + r) = *s.add(r * s_n + kq) };
                }
            }
        } else {
            for kk in 0..k {
                for r in 0..R {
                    let v = if r < rows {
                        // SAFETY: r < rows means row r0 + r < n, in the view.
                        unsafe { *s.add(r * s_n + kk * s_k) }
                    } else {
                        0.0
                    };
                    // SAFETY: in-panel write.
                    unsafe { *d.add(kk * R + r) = v };
                }
            }
        }
    }
}

/// [`pack_panels`], then every packed value rounded to bfloat16 (kept as the `f32` of equal
/// value): the operands of the emulated bf16 path, which the `f32` microkernels multiply. The
/// rounding is a second pass over the packed panel, which is contiguous and still in cache: a
/// branch-free loop that vectorises, where rounding inside the packing loops (scattered stores)
/// made bf16 steps a third slower than f32 (measured, `hinet bench --precision bf16`).
///
/// # Safety
/// As [`pack_panels`].
pub(crate) unsafe fn pack_panels_bf16_rounded<const R: usize>(
    n: usize,
    k: usize,
    src: *const f32,
    s_n: usize,
    s_k: usize,
    dst: *mut f32,
) {
    // SAFETY: forwarded contract.
    unsafe { pack_panels::<R>(n, k, src, s_n, s_k, dst) };
    // SAFETY: pack_panels wrote exactly these floats.
    unsafe { round_packed(dst, n.div_ceil(R) * R * k) };
}

/// Rounds `len` packed floats at `dst` to bfloat16 in place (the second pass of the
/// bf16-rounded packers).
///
/// # Safety
/// `dst` readable and writable for `len` initialised floats.
#[inline(always)]
pub(crate) unsafe fn round_packed(dst: *mut f32, len: usize) {
    // SAFETY: the caller's contract.
    let packed = unsafe { std::slice::from_raw_parts_mut(dst, len) };
    for v in packed {
        *v = crate::precision::round_to_bf16(*v);
    }
}

/// Packs an `n x k` operand into panels of `R` along `n` as bfloat16 *pairs* along `k`, the
/// layout of `vdpbf16ps`: one 32-bit slot holds `(k = 2q, k = 2q + 1)` of one row, the even `k`
/// in the low half. `dst[p * R * kp + q * R + r]` (as bits) for `kp = k.div_ceil(2)` pairs,
/// zeros past `n` and past an odd `k`.
///
/// ```text
///  A rows r0, r1 (R = 2), k = 3:     packed: [ (a00,a01) (a10,a11) | (a02,0) (a12,0) ]
/// ```
///
/// # Safety
/// `src` must be readable at every `i * s_n + kk * s_k` for `i < n`, `kk < k`, and `dst`
/// writable for `n.div_ceil(R) * R * k.div_ceil(2)` 32-bit slots.
pub(crate) unsafe fn pack_pairs_bf16<const R: usize>(
    n: usize,
    k: usize,
    src: *const f32,
    s_n: usize,
    s_k: usize,
    dst: *mut f32,
) {
    use crate::precision::bf16_bits;
    let kp = k.div_ceil(2);
    let dst = dst.cast::<u32>();
    for p in 0..n.div_ceil(R) {
        let r0 = p * R;
        let rows = R.min(n - r0);
        // SAFETY: panel p starts inside dst.
        let d = unsafe { dst.add(p * R * kp) };
        for q in 0..kp {
            let (k0, k1) = (2 * q, 2 * q + 1);
            for r in 0..R {
                let pair = if r < rows {
                    // SAFETY: row r0 + r < n and k0 < k are in the view; k1 is read only when < k.
                    let (lo, hi) = unsafe {
                        let s = src.add((r0 + r) * s_n);
                        (*s.add(k0 * s_k), if k1 < k { *s.add(k1 * s_k) } else { 0.0 })
                    };
                    u32::from(bf16_bits(lo)) | (u32::from(bf16_bits(hi)) << 16)
                } else {
                    0
                };
                // SAFETY: slot (q, r) of the panel.
                unsafe { *d.add(q * R + r) = pair };
            }
        }
    }
}

/// One 64-byte cache line of floats; a `Vec` of these is 64-byte aligned, so
/// packed panels start on a cache line and never split a zmm load.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct CacheLine([f32; 16]);

/// A growable, 64-byte aligned float buffer that never shrinks: after the
/// first call of a given size it is reused without touching the allocator.
pub(crate) struct PackBuf {
    lines: Vec<CacheLine>,
}

impl PackBuf {
    const fn new() -> Self {
        Self { lines: Vec::new() }
    }

    /// A pointer to at least `len` writable floats.
    fn get(&mut self, len: usize) -> *mut f32 {
        let need = len.div_ceil(16).max(1);
        if self.lines.len() < need {
            self.lines.resize(need, CacheLine([0.0; 16]));
        }
        self.lines.as_mut_ptr().cast::<f32>()
    }
}

thread_local! {
    /// Packed-A and packed-B buffers of this thread (rayon workers included).
    static PACK_BUFS: RefCell<(PackBuf, PackBuf)> = const { RefCell::new((PackBuf::new(), PackBuf::new())) };
}

/// Runs `f(a_buf, b_buf)` with this thread's packing buffers grown to at least
/// `a_len` and `b_len` floats. The buffers are only borrowed by leaf code that
/// never re-enters rayon, so the borrow cannot be contended; if it ever were
/// (or thread-locals are being torn down) a temporary buffer is used instead.
pub(crate) fn with_pack_buffers<R>(a_len: usize, b_len: usize, f: impl FnOnce(*mut f32, *mut f32) -> R) -> R {
    let mut f = Some(f);
    let res = PACK_BUFS.try_with(|cell| {
        let mut bufs = cell.try_borrow_mut().ok()?;
        let f = f.take()?;
        let (a, b) = &mut *bufs;
        Some(f(a.get(a_len), b.get(b_len)))
    });
    if let Ok(Some(r)) = res {
        return r;
    }
    // `f` is only taken on the path that returned above, so it is still here.
    let (mut a, mut b) = (PackBuf::new(), PackBuf::new());
    match f {
        Some(f) => f(a.get(a_len), b.get(b_len)),
        None => unreachable!("pack buffer closure consumed without a result"),
    }
}
