//! Stable hashes.
//!
//! Hashed categorical ids and hash splits must be identical across runs, machines, Rust
//! versions and the training and prediction processes, so std's randomly keyed SipHash is out.
//! FNV-1a (64 bit) is tiny, fast on short keys (ids, zip codes) and fully specified.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bit, of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(FNV_OFFSET, bytes)
}

/// Continues an FNV-1a hash over more bytes (to hash several columns without concatenating).
pub fn fnv1a64_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The FNV-1a starting state, for use with [`fnv1a64_extend`].
pub const fn fnv1a64_start() -> u64 {
    FNV_OFFSET
}

/// SplitMix64 finaliser: a bijective mixer whose output bits all depend on all input bits.
/// FNV's low bits are weak, so a bucket index or split fraction goes through this first.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bucket of a string value in a hashed field with `buckets` buckets.
pub fn hash_bucket(bytes: &[u8], buckets: usize) -> u32 {
    (mix64(fnv1a64(bytes)) % buckets as u64) as u32
}

/// A number in [0, 1) derived from a row key and a seed; equal inputs give equal outputs.
pub fn unit_interval(key: u64, seed: u64) -> f64 {
    // 53 bits: exactly representable in an f64.
    (mix64(key ^ mix64(seed)) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
