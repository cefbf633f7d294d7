//! `HINET_KERNEL` forces the kernel `selected_kernel` reports. It is read once
//! per process, so this lives in its own test binary with a single test.

use hinet_kernels::{KernelKind, detected_kernel, selected_kernel};

#[test]
fn env_var_forces_portable_kernel() {
    // SAFETY: this binary has a single test and nothing else runs yet, so no
    // other thread reads the environment concurrently.
    unsafe { std::env::set_var("HINET_KERNEL", "portable") };
    assert_eq!(selected_kernel(), KernelKind::Portable);
    assert!(detected_kernel().is_available());
    assert_eq!(KernelKind::from_name("AVX512"), Some(KernelKind::Avx512));
    assert_eq!(KernelKind::from_name("nope"), None);
}
