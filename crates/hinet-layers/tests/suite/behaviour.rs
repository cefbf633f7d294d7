//! What layers promise besides gradients: names, modes, state, errors that name the layer.

use hinet_autograd::{Gradients, ParamGrad, ParamStore, Tape, Workspace};
use hinet_layers::*;
use ndarray::{Array2, ArrayD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(1)
}

#[test]
fn parameter_names_are_hierarchical_and_pytorch_shaped() {
    let mut store = ParamStore::<f32>::new();
    let group = ExpertGroup::new(
        &mut store,
        "scenario.shared",
        5,
        320,
        &[128, 64],
        GateMode::Softmax,
        &mut rng(),
    )
    .unwrap();
    let names: Vec<_> = store
        .ids()
        .map(|id| (store.name(id).to_string(), store.value(id).shape().to_vec()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("scenario.shared.experts.layer.0.weight".into(), vec![5, 128, 320]),
            ("scenario.shared.experts.layer.0.bias".into(), vec![5, 128]),
            ("scenario.shared.experts.layer.1.weight".into(), vec![5, 64, 128]),
            ("scenario.shared.experts.layer.1.bias".into(), vec![5, 64]),
            ("scenario.shared.gate.weight".into(), vec![5, 320]),
            ("scenario.shared.gate.bias".into(), vec![5]),
        ]
    );
    assert_eq!(Module::<f32>::state(&group).len(), 6);
}

#[test]
fn xavier_bounds_hold() {
    let mut store = ParamStore::<f64>::new();
    let lin = Linear::new(&mut store, "l", 300, 100, true, &mut rng()).unwrap();
    let w = store.value(lin.weight());
    let a = (6.0f64 / 400.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= a));
    // uniform on [-a, a] has variance a^2 / 3
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var - a * a / 3.0).abs() < 0.05 * a * a, "{var}");
    assert!(store.value(lin.bias().unwrap()).iter().all(|&b| b == 0.0));
}

#[test]
fn gate_without_parameters_in_mean_mode_is_the_plain_mean() {
    let mut store = ParamStore::<f64>::new();
    let gate = Gate::new(&mut store, "g", 4, 3, GateMode::Mean, &mut rng()).unwrap();
    assert!(store.is_empty(), "the mean gate has no parameters");
    let tape = Tape::new(&store);
    let x = tape.full(&[2, 4], 1.0);
    let experts = ArrayD::from_shape_fn(vec![3, 2, 1], |ix| (ix[0] * 3 + ix[1]) as f64);
    let y = gate.mix(x, tape.constant(experts.view())).unwrap().value();
    // experts (0, 3, 6) and (1, 4, 7): means 3 and 4 (up to rounding of the 1/3 weights)
    assert!(
        (y[[0, 0]] - 3.0).abs() < 1e-12 && (y[[1, 0]] - 4.0).abs() < 1e-12,
        "{y:?}"
    );
}

#[test]
fn batch_norm_running_statistics_follow_pytorch() {
    let mut store = ParamStore::<f64>::new();
    let mut bn = BatchNorm1d::new(&mut store, "bn", 1, 1e-5, 0.1).unwrap();
    let x = Array2::from_shape_vec((4, 1), vec![1.0, 2.0, 3.0, 6.0])
        .unwrap()
        .into_dyn();
    {
        let tape = Tape::new(&store);
        bn.forward(tape.constant(x.view())).unwrap();
    }
    bn.commit(&mut store);
    let mean = store.value(store.id("bn.running_mean").unwrap())[[0]];
    let var = store.value(store.id("bn.running_var").unwrap())[[0]];
    // batch mean 3, unbiased variance (4 + 1 + 0 + 9) / 3
    assert!((mean - 0.3).abs() < 1e-12);
    assert!((var - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-12);
    // committing twice without a new forward changes nothing
    bn.commit(&mut store);
    assert!((store.value(store.id("bn.running_mean").unwrap())[[0]] - 0.3).abs() < 1e-12);
    // inference uses the running statistics
    bn.set_training(false);
    let tape = Tape::new(&store);
    let y = bn.forward(tape.constant(x.view())).unwrap().value();
    let expected = (1.0 - 0.3) / (var + 1e-5f64).sqrt();
    assert!((y[[0, 0]] - expected).abs() < 1e-9);
}

#[test]
fn dropout_is_identity_in_inference_and_scales_in_training() {
    let store = ParamStore::<f64>::new();
    let mut d = Dropout::new("drop", 0.5, 3).unwrap();
    let tape = Tape::new(&store);
    let x = tape.full(&[100, 10], 1.0);
    let y = d.forward(x).unwrap().value();
    let kept = y.iter().filter(|&&v| v != 0.0).count();
    assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    assert!((350..650).contains(&kept), "{kept}");
    Module::<f64>::set_training(&mut d, false);
    let y = d.forward(x).unwrap().value();
    assert!(y.iter().all(|&v| v == 1.0));
    assert!(Dropout::new("bad", 1.0, 0).is_err());
}

#[test]
fn embedding_gradient_is_sparse_and_ids_are_checked() {
    let mut store = ParamStore::<f32>::new();
    let fe = FieldEmbeddings::new(&mut store, "emb", &[(100, 4), (10, 2)], 0, &mut rng()).unwrap();
    assert_eq!(fe.out_features(), 6);
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let x = fe.forward(&tape, 2, &[7, 7, 3, 9], None).unwrap();
    tape.backward(x.sum().unwrap(), &mut grads).unwrap();
    let Some(ParamGrad::Rows { rows, .. }) = grads.get(fe.fields()[0].table()) else {
        panic!("expected sparse rows");
    };
    assert_eq!(rows, &[7]);
    let err = fe.forward(&tape, 2, &[7, 7, 3, 10], None).unwrap_err().to_string();
    assert!(
        err.contains("emb.field.1") && err.contains("id 10") && err.contains("10 ids"),
        "{err}"
    );
    let err = fe.forward(&tape, 3, &[7, 7, 3, 9], None).unwrap_err().to_string();
    assert!(err.contains("expected 6 ids"), "{err}");
}

#[test]
fn shape_and_configuration_errors_name_the_layer_and_size() {
    let mut store = ParamStore::<f32>::new();
    let lin = Linear::new(&mut store, "tower.0.layer.1", 8, 4, true, &mut rng()).unwrap();
    let tape = Tape::new(&store);
    let err = lin
        .forward(tape.full(&[2, 7], 1.0), Activation::Relu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tower.0.layer.1") && err.contains("[2, 7]") && err.contains("[4, 8]"),
        "{err}"
    );
    drop(tape);
    let err = ScenarioAttention::<f32>::new(
        &mut store,
        "san",
        1,
        &SanConfig {
            embedding_dim: 4,
            ..Default::default()
        },
        &mut rng(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("san") && err.contains("at least 2 scenarios"), "{err}");
    let err = ExpertStack::new(&mut store, "s", 0, 4, &[3], &mut rng())
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer s") && err.contains("0 experts"), "{err}");
    let err = Cgc::new(
        &mut store,
        "cgc",
        4,
        &CgcConfig {
            tasks: 2,
            shared_experts: 0,
            experts_per_task: 0,
            expert_hidden: vec![3],
            levels: 1,
            gate_mode: GateMode::Softmax,
            external_experts: 0,
        },
        &mut rng(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cgc") && err.contains("0 shared + 0 per task + 0 external"),
        "{err}"
    );
}

#[test]
fn san_attention_matrix_masks_the_own_scenario() {
    for renormalise in [true, false] {
        let mut store = ParamStore::<f64>::new();
        let config = SanConfig {
            embedding_dim: 4,
            hidden: vec![],
            renormalise,
        };
        let san = ScenarioAttention::new(&mut store, "san", 4, &config, &mut rng()).unwrap();
        let a = san.attention_matrix(&store).unwrap();
        for i in 0..4 {
            assert_eq!(a[[i, i]], 0.0);
            let row: f64 = a.row(i).sum();
            if renormalise {
                assert!((row - 1.0).abs() < 1e-12);
            } else {
                assert!(row < 1.0 && row > 0.0);
            }
        }
    }
}

#[test]
fn cgc_shapes_and_inference_workspace_reuse() {
    let mut store = ParamStore::<f32>::new();
    let config = CgcConfig {
        tasks: 3,
        shared_experts: 2,
        experts_per_task: 2,
        expert_hidden: vec![16, 8],
        levels: 2,
        gate_mode: GateMode::Softmax,
        external_experts: 0,
    };
    let cgc = Cgc::new(&mut store, "cgc", 12, &config, &mut rng()).unwrap();
    assert!(store.id("cgc.level.0.shared_gate.weight").is_ok());
    assert!(store.id("cgc.level.1.shared_gate.weight").is_err());
    let mut ws = Workspace::new();
    for _ in 0..2 {
        let tape = Tape::no_grad(&store, ws);
        let outs = cgc.forward(tape.full(&[5, 12], 0.3)).unwrap();
        assert_eq!(outs.len(), 3);
        assert!(outs.iter().all(|o| o.shape() == vec![5, 8]));
        drop(outs);
        ws = tape.into_workspace();
    }
}
