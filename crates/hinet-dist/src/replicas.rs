//! Sync batch norm's link to the other ranks: the engine's [`ReplicaSum`] over a communicator.

use crate::comm::Communicator;
use crate::wire::WireFloat;
use hinet_autograd::ReplicaSum;
use std::sync::Arc;

/// Sums batch-norm statistics over the ranks of `comm`.
#[derive(Debug)]
pub(crate) struct CommSum(pub(crate) Arc<dyn Communicator>);

impl<F: WireFloat> ReplicaSum<F> for CommSum {
    fn sum(&self, values: &mut [F]) -> Result<(), String> {
        F::sum_over(&*self.0, values).map_err(|e| e.to_string())
    }
}
