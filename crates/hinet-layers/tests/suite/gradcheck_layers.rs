//! Every layer's gradient with respect to every parameter (and its input), against central
//! finite differences in f64, on tiny configurations.

use hinet_autograd::{GradcheckOptions, ParamId, ParamStore, Result as AgResult, Tape, Var, gradcheck_params};
use hinet_layers::*;
use ndarray::{ArrayD, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(2024)
}

fn random(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(shape, |_| r.random_range(-1.0..1.0))
}

/// Layer errors become engine errors inside the gradcheck closure (the test fails on either).
fn ag<T>(r: Result<T>) -> AgResult<T> {
    r.map_err(|e| hinet_autograd::AutogradError::BadArgument {
        op: "layer",
        why: e.to_string(),
    })
}

/// Checks the gradient with respect to every trainable parameter of the store plus an input
/// registered as the parameter `input`.
fn check<Fun>(name: &str, store: &mut ParamStore<f64>, f: Fun)
where
    Fun: for<'t> Fn(&'t Tape<'t, f64>) -> AgResult<Var<'t, f64>>,
{
    // Zero-initialised biases can put a ReLU exactly at its kink (a dead layer outputs b = 0),
    // where finite differences see half a slope: move them off zero first.
    let mut r = ChaCha8Rng::seed_from_u64(99);
    let biases: Vec<ParamId> = store.ids().filter(|&id| store.name(id).ends_with(".bias")).collect();
    for id in biases {
        store.value_mut(id).mapv_inplace(|b| b + r.random_range(0.05..0.2));
    }
    let params: Vec<ParamId> = store
        .ids()
        .filter(|&id| store.kind(id) == hinet_autograd::ParamKind::Trainable)
        .collect();
    let report =
        gradcheck_params(store, &params, f, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.checked > 0, "{name}: nothing checked");
    assert!(report.passed(), "{name}: {report:?}");
}

#[test]
fn linear_and_mlp() {
    let mut store = ParamStore::new();
    let x = store.add("input", random(&[4, 3], 1)).unwrap();
    let lin = Linear::new(&mut store, "lin", 3, 2, true, &mut rng()).unwrap();
    check("linear tanh", &mut store, |t| {
        ag(lin.forward(t.param(x), Activation::Tanh))
    });

    let mut store = ParamStore::new();
    let x = store.add("input", random(&[5, 3], 2)).unwrap();
    let config = MlpConfig {
        hidden: vec![4, 2],
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
    };
    let mlp = Mlp::new(&mut store, "mlp", 3, &config, &mut rng()).unwrap();
    check("mlp relu + batch norm", &mut store, |t| ag(mlp.forward(t.param(x))));
}

#[test]
fn embeddings_with_dense_features() {
    let mut store = ParamStore::new();
    let fe = FieldEmbeddings::new(&mut store, "emb", &[(5, 2), (3, 3)], 2, &mut rng()).unwrap();
    let ids = [4, 0, 4, 1, 2, 2]; // field-major: field 0 of rows 0..3, then field 1
    let dense = random(&[3, 2], 3);
    let dense2: ArrayView2<f64> = dense.view().into_dimensionality().unwrap();
    check("field embeddings", &mut store, |t| {
        let x = ag(fe.forward(t, 3, &ids, Some(dense2)))?;
        x.tanh()
    });
}

#[test]
fn batch_norm_both_modes() {
    let mut store = ParamStore::new();
    let x = store.add("input", random(&[4, 3], 4)).unwrap();
    let mut bn = BatchNorm1d::new(&mut store, "bn", 3, 1e-5, 0.1).unwrap();
    check("batch norm train", &mut store, |t| ag(bn.forward(t.param(x))));
    bn.set_training(false);
    check("batch norm eval", &mut store, |t| ag(bn.forward(t.param(x))));
}

#[test]
fn gates_in_every_mode() {
    for mode in [GateMode::Softmax, GateMode::ReluSoftmax, GateMode::Mean, GateMode::Sum] {
        let mut store = ParamStore::new();
        let x = store.add("input", random(&[3, 4], 5)).unwrap();
        let experts = store.add("experts", random(&[2, 3, 5], 6)).unwrap();
        let gate = Gate::new(&mut store, "gate", 4, 2, mode, &mut rng()).unwrap();
        check(&format!("gate {mode:?}"), &mut store, |t| {
            ag(gate.mix(t.param(x), t.param(experts)))
        });
    }
}

#[test]
fn expert_stack_and_group() {
    let mut store = ParamStore::new();
    let x = store.add("input", random(&[3, 4], 7)).unwrap();
    let stack = ExpertStack::new(&mut store, "stack", 3, 4, &[5, 2], &mut rng()).unwrap();
    check("expert stack", &mut store, |t| ag(stack.forward(t.param(x))));

    let mut store = ParamStore::new();
    let x = store.add("input", random(&[3, 4], 8)).unwrap();
    let group = ExpertGroup::new(&mut store, "group", 3, 4, &[5, 2], GateMode::Softmax, &mut rng()).unwrap();
    check("expert group", &mut store, |t| ag(group.forward(t.param(x))));

    let mut store = ParamStore::new();
    let x = store.add("input", random(&[2, 3], 9)).unwrap();
    let one_layer = ExpertGroup::new(&mut store, "g1", 2, 3, &[4], GateMode::ReluSoftmax, &mut rng()).unwrap();
    check("one-layer expert group", &mut store, |t| {
        ag(one_layer.forward(t.param(x)))
    });
}

#[test]
fn scenario_attention_variants() {
    for (hidden, renormalise) in [(vec![], true), (vec![], false), (vec![4], true), (vec![4, 3], false)] {
        let mut store = ParamStore::new();
        let experts = store.add("experts", random(&[3, 4, 2], 10)).unwrap();
        let config = SanConfig {
            embedding_dim: 3,
            hidden: hidden.clone(),
            renormalise,
        };
        let san = ScenarioAttention::new(&mut store, "san", 3, &config, &mut rng()).unwrap();
        let scenario = [2, 0, 0, 1];
        check(
            &format!("SAN hidden {hidden:?} renormalise {renormalise}"),
            &mut store,
            |t| ag(san.forward(&scenario, t.param(experts))),
        );
    }
}

#[test]
fn cgc_one_and_two_levels() {
    for (levels, shared, per_task) in [(1, 2, 1), (2, 1, 2), (1, 0, 2), (2, 2, 0)] {
        let mut store = ParamStore::new();
        let x = store.add("input", random(&[3, 4], 11)).unwrap();
        let config = CgcConfig {
            tasks: 2,
            shared_experts: shared,
            experts_per_task: per_task,
            expert_hidden: vec![3],
            levels,
            gate_mode: GateMode::Softmax,
            external_experts: 0,
        };
        let cgc = Cgc::new(&mut store, "cgc", 4, &config, &mut rng()).unwrap();
        check(
            &format!("cgc levels {levels} shared {shared} per task {per_task}"),
            &mut store,
            |t| {
                let outs = ag(cgc.forward(t.param(x)))?;
                hinet_autograd::concat(&outs, 1)
            },
        );
    }
}

#[test]
fn tower() {
    let mut store = ParamStore::new();
    let x = store.add("input", random(&[4, 3], 12)).unwrap();
    let tower = Tower::new(&mut store, "tower", 3, &MlpConfig::relu(&[5, 2]), &mut rng()).unwrap();
    check("tower", &mut store, |t| ag(tower.forward(t.param(x))));
}
