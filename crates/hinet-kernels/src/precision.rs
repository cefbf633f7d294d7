//! Operand precision of an `f32` product: full `f32`, or `bf16` operands with `f32` accumulation.
//!
//! bfloat16 keeps `f32`'s 8-bit exponent and 7 of its 23 stored mantissa bits, so a value
//! converts by dropping the low 16 bits of its `f32` pattern, rounded. In mixed precision only
//! the *operands* of a product are rounded: the product of two bf16 values has at most 16
//! significant bits and is exact in `f32`, the sum is accumulated in `f32`, and the result,
//! the master weights and the optimiser state stay `f32` (docs/kernels.md, "bf16 operands").

/// How the operands of an `f32` product are represented while it is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// `f32` operands (the default).
    #[default]
    F32,
    /// Operands rounded to bfloat16 (round to nearest, ties to even), products accumulated in
    /// `f32`. On a CPU with AVX512-BF16 the operands are packed as bf16 pairs for `vdpbf16ps`;
    /// elsewhere the `f32` kernel multiplies the rounded values (the same products, summed in
    /// another order).
    Bf16,
}

impl Precision {
    /// Lower-case name, as written in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Parses a name (`f32`/`fp32`, `bf16`), case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Some(Precision::F32),
            "bf16" | "bfloat16" => Some(Precision::Bf16),
            _ => None,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bfloat16 bit pattern nearest to `x` (ties to even), as the hardware converts
/// (`vcvtne2ps2bf16`): subnormal inputs become zero of the same sign, NaN stays a quiet NaN,
/// infinities stay infinite, and a finite value that rounds past the largest bf16 becomes
/// infinite.
#[inline]
pub fn bf16_bits(x: f32) -> u16 {
    (rounded_bits(x.to_bits()) >> 16) as u16
}

/// The `f32` bit pattern of the bfloat16 nearest to the pattern `bits` (low 16 bits zero).
/// Written as selects, not branches, so that loops over it vectorise (packing rounds every
/// operand of a bf16 product).
#[inline(always)]
fn rounded_bits(bits: u32) -> u32 {
    let magnitude = bits & 0x7fff_ffff;
    // Round to nearest even on bit 16: add 0x7fff plus the lowest kept bit, then truncate.
    let nearest = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    // A NaN keeps its sign and top payload bits and is made quiet, so that it stays a NaN.
    let nan = (bits | 0x0040_0000) & 0xffff_0000;
    // Zero or subnormal: flushed to zero of the same sign, as `vdpbf16ps` treats subnormal inputs.
    let zero = bits & 0x8000_0000;
    let v = if bits & 0x7f80_0000 == 0 { zero } else { nearest };
    if magnitude > 0x7f80_0000 { nan } else { v }
}

/// `x` rounded to the nearest bfloat16 value, returned as the `f32` of equal value.
#[inline]
pub fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits(rounded_bits(x.to_bits()))
}

/// The `f32` of equal value to a bfloat16 bit pattern (exact).
#[inline]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference rounding in f64: the two bf16 neighbours of x and the nearer one, ties to the
    /// one with an even last mantissa bit.
    fn reference(x: f32) -> u16 {
        let bits = x.to_bits();
        let lo = (bits >> 16) as u16;
        let hi = lo.wrapping_add(1);
        let (dl, dh) = (
            (f64::from(x) - f64::from(bf16_to_f32(lo))).abs(),
            (f64::from(bf16_to_f32(hi)) - f64::from(x)).abs(),
        );
        if dl < dh || (dl == dh && lo & 1 == 0) { lo } else { hi }
    }

    #[test]
    fn rounds_to_nearest_even_on_normal_values() {
        // A deterministic walk over patterns, every low-half pattern class included.
        let mut state = 0x1234_5678u32;
        for i in 0..200_000u32 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let bits = match i % 4 {
                0 => state,
                1 => (state & 0xffff_0000) | 0x8000, // exact tie
                2 => (state & 0xffff_0000) | 0x7fff, // just below a tie
                _ => (state & 0xffff_0000) | 0x8001, // just above a tie
            };
            let x = f32::from_bits(bits);
            if !x.is_finite() || bits & 0x7f80_0000 == 0 || x.abs() >= f32::from_bits(0x7f7f_0000) {
                continue;
            }
            assert_eq!(bf16_bits(x), reference(x), "x = {x:e} ({bits:#010x})");
        }
    }

    #[test]
    fn special_values() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(-2.0), 0xc000);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: goes up.
        assert_eq!(round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
        assert!(round_to_bf16(f32::NAN).is_nan());
        assert!(
            round_to_bf16(f32::from_bits(0x7f80_0001)).is_nan(),
            "a NaN whose payload is in the low bits"
        );
        assert_eq!(round_to_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_to_bf16(f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY, "rounds past the largest bf16");
        assert_eq!(bf16_bits(f32::from_bits(1)), 0, "subnormal flushed");
        assert_eq!(
            bf16_bits(-f32::from_bits(0x0040_0000)),
            0x8000,
            "negative subnormal to -0"
        );
        assert_eq!(bf16_bits(f32::MIN_POSITIVE), 0x0080, "smallest normal kept");
    }

    #[test]
    fn names_round_trip() {
        for p in [Precision::F32, Precision::Bf16] {
            assert_eq!(Precision::from_name(p.name()), Some(p));
        }
        assert_eq!(Precision::from_name(" FP32 "), Some(Precision::F32));
        assert_eq!(Precision::from_name("fp16"), None);
    }
}
