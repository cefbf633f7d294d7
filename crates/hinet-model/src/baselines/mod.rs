//! Baselines that are not a configuration of the task layer. (Shared-Bottom, MMoE and PLE are:
//! see `task_layer.rs`.)

pub(crate) mod hmoe;
pub(crate) mod star;
