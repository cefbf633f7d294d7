//! Parameter groups: a set of parameters sharing a learning-rate scale, a weight decay, an L2
//! penalty on touched rows and an update mode (dense, or lazy for embedding tables).

use hinet_autograd::ParamId;

/// Parameters updated with the same settings.
///
/// The learning rate of a group at step `t` is `schedule(lr, t) * lr_scale`, so one schedule
/// drives every group (e.g. embeddings at 10x the tower learning rate).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    /// Name used in error messages and reports.
    pub name: String,
    /// The parameters of this group (trainable, each in exactly one group).
    pub params: Vec<ParamId>,
    /// Multiplies the scheduled learning rate (1.0: the optimiser's rate).
    pub lr_scale: f64,
    /// L2 penalty: added to the gradient (SGD, Adam, Adagrad) or decoupled (AdamW).
    pub weight_decay: f64,
    /// L2 penalty on the rows a row gradient touches (`lambda` of `docs/optim.md` §4.1): each
    /// step, `row_l2 * p_r` is added to the gradient of every distinct row `r` the gradient
    /// lists, once, with every rule (coupled, AdamW included). Rows without a gradient get
    /// nothing, so the cost is that of the touched rows; a dense gradient covers every row.
    /// For embedding tables: lazy L2 regularisation of the ids a batch uses.
    pub row_l2: f64,
    /// Lazy updates: a row gradient updates only the rows it touches (parameter and state).
    /// Every parameter of a sparse group must be a 2-D table.
    pub sparse: bool,
}

impl ParamGroup {
    /// A dense group with `lr_scale = 1` and no weight decay.
    pub fn new(name: impl Into<String>, params: Vec<ParamId>) -> Self {
        Self {
            name: name.into(),
            params,
            lr_scale: 1.0,
            weight_decay: 0.0,
            row_l2: 0.0,
            sparse: false,
        }
    }

    /// Sets the learning-rate scale.
    pub fn with_lr_scale(mut self, lr_scale: f64) -> Self {
        self.lr_scale = lr_scale;
        self
    }

    /// Sets the weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the L2 penalty on touched rows (see [`ParamGroup::row_l2`]).
    pub fn with_row_l2(mut self, row_l2: f64) -> Self {
        self.row_l2 = row_l2;
        self
    }

    /// Selects lazy (sparse) updates for the group's embedding tables.
    pub fn with_sparse(mut self, sparse: bool) -> Self {
        self.sparse = sparse;
        self
    }
}
