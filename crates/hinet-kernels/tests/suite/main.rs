//! The hinet-kernels integration tests in one binary (one link and one copy of the
//! monomorphised engine instead of one per file); each module is one former test file.
//! Tests that install a counting global allocator or read process-wide settings stay in
//! binaries of their own beside this folder.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod bf16;
mod bf16_weights;
mod correctness;
mod determinism;
mod microkernel_twins;
mod pack;
mod proptest_shapes;
mod small_m;
