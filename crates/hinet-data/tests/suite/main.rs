//! The hinet-data integration tests in one binary (one link and one copy of the
//! monomorphised engine instead of one per file); each module is one former test file.
//! Tests that install a counting global allocator or read process-wide settings stay in
//! binaries of their own beside this folder.

mod csv_reader;
mod data_safety;
mod fuzz;
mod preset_fixtures;
mod presets;
mod split_batch;
mod streaming;
mod synthetic;
