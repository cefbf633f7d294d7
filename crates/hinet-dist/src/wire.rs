//! Numbers to and from the bytes the exchanges carry (little-endian), and the float types a
//! data-parallel model may use.

use crate::comm::Communicator;
use crate::error::Result;
use hinet_autograd::Float;

/// A float type whose values can be summed across ranks and sent as bytes: `f32` and `f64`.
pub trait WireFloat: Float {
    /// Bytes per value.
    const BYTES: usize;
    /// Element-wise sum of `values` over the ranks of `comm`.
    fn sum_over(comm: &dyn Communicator, values: &mut [Self]) -> Result<()>;
    /// Appends the little-endian bytes of `values` to `out`.
    fn put(values: &[Self], out: &mut Vec<u8>);
    /// Decodes values from `bytes` (a multiple of `BYTES` long) into `out`.
    fn get(bytes: &[u8], out: &mut Vec<Self>);
}

macro_rules! wire_float {
    ($t:ty, $sum:ident) => {
        impl WireFloat for $t {
            const BYTES: usize = std::mem::size_of::<$t>();
            fn sum_over(comm: &dyn Communicator, values: &mut [Self]) -> Result<()> {
                comm.$sum(values)
            }
            fn put(values: &[Self], out: &mut Vec<u8>) {
                out.reserve(values.len() * Self::BYTES);
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            fn get(bytes: &[u8], out: &mut Vec<Self>) {
                out.extend(
                    bytes
                        .chunks_exact(Self::BYTES)
                        .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; Self::BYTES]))),
                );
            }
        }
    };
}
wire_float!(f32, sum_f32);
wire_float!(f64, sum_f64);

/// Each message's values, decoded (one vector per rank's message).
pub fn decode_all<F: WireFloat>(messages: &[Vec<u8>]) -> Vec<Vec<F>> {
    messages
        .iter()
        .map(|b| {
            let mut v = Vec::with_capacity(b.len() / F::BYTES);
            F::get(b, &mut v);
            v
        })
        .collect()
}

/// Appends `v` as 8 little-endian bytes.
pub fn put_u64(v: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads the `i`-th u64 of `bytes` (0 past the end: the callers size their messages).
pub fn get_u64(bytes: &[u8], i: usize) -> u64 {
    bytes
        .get(i * 8..i * 8 + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Number of u64 values in `bytes`.
pub fn count_u64(bytes: &[u8]) -> usize {
    bytes.len() / 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_ids_round_trip_through_bytes() {
        let xs = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.0e38];
        let mut b = Vec::new();
        f32::put(&xs, &mut b);
        let mut back = Vec::new();
        f32::get(&b, &mut back);
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            xs.map(f32::to_bits)
        );
        let mut b = Vec::new();
        for v in [0u64, 7, u64::MAX] {
            put_u64(v, &mut b);
        }
        assert_eq!(count_u64(&b), 3);
        assert_eq!([get_u64(&b, 0), get_u64(&b, 1), get_u64(&b, 2)], [0, 7, u64::MAX]);
    }
}
