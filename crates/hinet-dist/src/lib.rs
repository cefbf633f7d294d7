#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod buckets;
mod comm;
mod error;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod replicas;
mod shards;
mod thread_group;
mod trainer;
pub mod wire;

pub use buckets::DEFAULT_BUCKET_VALUES;
pub use comm::Communicator;
pub use error::{DistError, Result};
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiComm;
pub use thread_group::{ThreadGroup, run_ranks};
pub use trainer::{CommStats, DistOptions, DistTrainer, EmbeddingPlacement, MetricsGather};
pub use wire::WireFloat;
