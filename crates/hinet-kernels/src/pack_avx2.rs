//! The AVX2 packer: [`crate::pack::pack_panels`] with the transposing case done by 8 x 8
//! register transposes.
//!
//! Half of a training step's packing is transposing: `x` and `dZ` (row-major A) and `W^T`
//! (B whose columns are `W`'s contiguous rows) are stored along `k`, while a micro-panel
//! interleaves `R` rows per `k`. The scalar loop moves one float per load and store; here
//! eight rows' eight consecutive `k` values are loaded as eight vectors, transposed in
//! registers (24 shuffles), and stored as eight `k` slots of up to eight rows each.
//!
//! ```text
//!  rows r0..r7, columns kk..kk+8          panel slots kk..kk+8, rows g0..g0+8 of each
//!   r0: a b c d e f g h                     slot kk:   a0 a1 ... a7
//!   r1: a b c d e f g h      transpose      slot kk+1: b0 b1 ... b7
//!   ...                     ---------->     ...
//! ```
//!
//! A panel of `R` rows is done in groups of eight rows; the last group of `R mod 8` rows (6
//! for the AVX2 tile, 4 for the AVX-512 one) loads zeros for the missing rows and stores
//! only its rows' lanes. Every value lands exactly where the scalar loop puts it: packing
//! moves floats and computes nothing, so the two packers are compared bit for bit.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU can run the AVX2 packer.
#[cfg(target_arch = "x86_64")]
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// [`crate::pack::pack_panels`] compiled with AVX2, whose full panels along `k` (`s_k == 1`)
/// are transposed eight by eight in registers.
///
/// # Safety
/// As [`crate::pack::pack_panels`], and the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn pack_panels_avx2<const R: usize>(
    n: usize,
    k: usize,
    src: *const f32,
    s_n: usize,
    s_k: usize,
    dst: *mut f32,
) {
    let full = n / R;
    if s_k != 1 || k < 8 {
        // Straight copies (and tiny blocks): the portable loop, already one copy per k. Tried
        // and dropped (criterion `pack/*straight`, a step's profile): reading each source row
        // across all panels (a slot in each of 20 panels per row: 2x slower) and prefetching
        // the row 16 k ahead (1.1x in cache, within noise in a step).
        // SAFETY: forwarded contract.
        return unsafe { crate::pack::pack_panels::<R>(n, k, src, s_n, s_k, dst) };
    }
    for p in 0..full {
        // SAFETY: panel p < n / R is whole: rows p * R .. p * R + R < n are in the view, and
        // its R * k floats lie inside dst.
        unsafe { transpose_panel::<R>(k, src.add(p * R * s_n), s_n, dst.add(p * R * k)) };
    }
    if full * R < n {
        // The zero-padded last panel: the portable loop.
        // SAFETY: rows full * R .. n are in the view; the panel's slots follow the full ones.
        unsafe {
            crate::pack::pack_panels::<R>(
                n - full * R,
                k,
                src.add(full * R * s_n),
                s_n,
                s_k,
                dst.add(full * R * k),
            )
        };
    }
}

/// [`pack_panels_avx2`], then every packed value rounded to bfloat16: the emulated bf16
/// path's packer for the AVX2 and AVX-512 kernels (see [`crate::pack::pack_panels_bf16_rounded`]).
///
/// # Safety
/// As [`pack_panels_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn pack_panels_bf16_rounded_avx2<const R: usize>(
    n: usize,
    k: usize,
    src: *const f32,
    s_n: usize,
    s_k: usize,
    dst: *mut f32,
) {
    // SAFETY: forwarded contract; then exactly the floats pack_panels_avx2 wrote.
    unsafe {
        pack_panels_avx2::<R>(n, k, src, s_n, s_k, dst);
        crate::pack::round_packed(dst, n.div_ceil(R) * R * k);
    }
}

/// One whole panel: `R` rows starting at `s` (row stride `s_n`, contiguous along `k`) into
/// `d[kk * R + r]`.
///
/// # Safety
/// `s` readable at `r * s_n + kk` for `r < R`, `kk < k`; `d` writable for `R * k` floats;
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_panel<const R: usize>(k: usize, s: *const f32, s_n: usize, d: *mut f32) {
    let mut kk = 0;
    while kk + 8 <= k {
        let mut g0 = 0;
        while g0 < R {
            let g = (R - g0).min(8);
            let mut rows = [_mm256_setzero_ps(); 8];
            for (r, row) in rows.iter_mut().enumerate().take(g) {
                // SAFETY: row g0 + r < R, columns kk..kk + 8 <= k: in the view.
                *row = unsafe { _mm256_loadu_ps(s.add((g0 + r) * s_n + kk)) };
            }
            let cols = transpose8(rows);
            for (q, col) in cols.into_iter().enumerate() {
                // SAFETY: slot kk + q < k, rows g0..g0 + g <= R: inside the panel.
                unsafe { store_lanes(d.add((kk + q) * R + g0), col, g) };
            }
            g0 += 8;
        }
        kk += 8;
    }
    for kq in kk..k {
        for r in 0..R {
            // SAFETY: in-view read (r < R, kq < k), in-panel write.
            unsafe { *d.add(kq * R + r) = *s.add(r * s_n + kq) };
        }
    }
}

/// `out[q]` lane `r` = `rows[r]` lane `q`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose8(rows: [__m256; 8]) -> [__m256; 8] {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
    // Pairs of rows interleaved: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5].
    let t0 = _mm256_unpacklo_ps(r0, r1);
    let t1 = _mm256_unpackhi_ps(r0, r1);
    let t2 = _mm256_unpacklo_ps(r2, r3);
    let t3 = _mm256_unpackhi_ps(r2, r3);
    let t4 = _mm256_unpacklo_ps(r4, r5);
    let t5 = _mm256_unpackhi_ps(r4, r5);
    let t6 = _mm256_unpacklo_ps(r6, r7);
    let t7 = _mm256_unpackhi_ps(r6, r7);
    // Quads: u0 = column 0 of rows 0..4 | column 4 of rows 0..4.
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    // Halves joined: rows 0..4 from u_i, rows 4..8 from u_{i+4}.
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Stores the first `g` lanes of `v` at `p` (one or two stores for the tiles' 8, 6 and 4).
///
/// # Safety
/// `p` writable for `g <= 8` floats; AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn store_lanes(p: *mut f32, v: __m256, g: usize) {
    // SAFETY (all arms): each store writes lanes 0..g of v to p..p + g, which the caller
    // guarantees writable.
    unsafe {
        match g {
            8 => _mm256_storeu_ps(p, v),
            4 => _mm_storeu_ps(p, _mm256_castps256_ps128(v)),
            6 => {
                _mm_storeu_ps(p, _mm256_castps256_ps128(v));
                // `_mm_storel_epi64` is an unaligned 8-byte store (p + 4 need not be 8-aligned).
                _mm_storel_epi64(
                    p.add(4).cast::<__m128i>(),
                    _mm_castps_si128(_mm256_extractf128_ps::<1>(v)),
                );
            }
            _ => {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), p, g);
            }
        }
    }
}
