//! The hinet-model integration tests in one binary (one link and one copy of the
//! monomorphised engine instead of one per file); each module is one former test file.
//! Tests that install a counting global allocator or read process-wide settings stay in
//! binaries of their own beside this folder.

#[path = "../common/mod.rs"]
mod common;

mod ablations;
mod checkpoint;
mod checkpoint_safety;
mod embedding_l2;
mod fuzz;
mod gradcheck_models;
mod learns;
mod metrics;
mod non_finite;
mod one_row;
mod sizes;
