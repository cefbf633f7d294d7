//! The engine's contract beyond single ops: errors, sparse gradients, no-grad mode, buffers,
//! numerical stability.

use hinet_autograd::{Activation, AutogradError, Gradients, ParamGrad, ParamStore, Tape, Workspace, concat};
use ndarray::{ArrayD, array};

fn arr(shape: &[usize], f: impl Fn(usize) -> f64) -> ArrayD<f64> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(shape, (0..n).map(f).collect()).unwrap()
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let store = ParamStore::<f32>::new();
    let tape = Tape::new(&store);
    let a = tape.full(&[2, 3], 1.0);
    let b = tape.full(&[4, 5], 1.0);
    let e = a.matmul(b).unwrap_err();
    assert_eq!(
        e,
        AutogradError::ShapeMismatch {
            op: "matmul",
            lhs: vec![2, 3],
            rhs: vec![4, 5],
            why: "inner dimensions differ (after transposition)"
        }
    );
    let msg = a.add(b).unwrap_err().to_string();
    assert!(
        msg.contains("add") && msg.contains("[2, 3]") && msg.contains("[4, 5]"),
        "{msg}"
    );
    let msg = a.linear(b, None, Activation::Relu).unwrap_err().to_string();
    assert!(msg.starts_with("linear"), "{msg}");
    let msg = concat(&[a, b], 0).unwrap_err().to_string();
    assert!(msg.starts_with("concat"), "{msg}");
    let e = a.gather_rows(&[0, 2]).unwrap_err();
    assert_eq!(
        e,
        AutogradError::IndexOutOfRange {
            op: "gather_rows",
            index: 2,
            len: 2
        }
    );
    assert!(matches!(
        a.softmax(2),
        Err(AutogradError::BadAxis {
            op: "softmax",
            axis: 2,
            ndim: 2
        })
    ));
    assert!(matches!(
        a.reshape(&[5]),
        Err(AutogradError::ShapeMismatch { op: "reshape", .. })
    ));
    assert!(matches!(
        a.permute(&[0, 0]),
        Err(AutogradError::BadArgument { op: "permute", .. })
    ));
    let mut rng = rand::rng();
    assert!(matches!(
        a.dropout(1.0, &mut rng),
        Err(AutogradError::BadArgument { op: "dropout", .. })
    ));
    assert!(matches!(
        tape.backward(a, &mut Gradients::new()),
        Err(AutogradError::LossNotScalar { .. })
    ));
}

#[test]
fn duplicate_parameter_names_are_rejected() {
    let mut store = ParamStore::<f32>::new();
    store.add("layer.0.weight", ArrayD::zeros(vec![2])).unwrap();
    let e = store.add("layer.0.weight", ArrayD::zeros(vec![2])).unwrap_err();
    assert_eq!(e, AutogradError::DuplicateName("layer.0.weight".into()));
    assert!(store.id("layer.1.weight").is_err());
    let id = store.id("layer.0.weight").unwrap();
    assert!(matches!(
        store.set(id, ArrayD::zeros(vec![3])),
        Err(AutogradError::ParamShape { .. })
    ));
}

#[test]
fn embedding_gradients_are_sparse_sorted_and_summed() {
    let mut store = ParamStore::<f64>::new();
    let table = store.add("emb", arr(&[10, 3], |i| i as f64 * 0.1)).unwrap();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let rows = tape.param(table).gather_rows(&[7, 2, 7, 5]).unwrap();
    let weights = tape.constant(arr(&[4, 3], |i| i as f64 + 1.0).view());
    let loss = rows.mul(weights).unwrap().sum().unwrap();
    tape.backward(loss, &mut grads).unwrap();
    match grads.get(table).unwrap() {
        ParamGrad::Rows { rows, values } => {
            assert_eq!(rows, &[2, 5, 7]);
            // row 7 was read at positions 0 and 2: weights 1,2,3 + 7,8,9
            assert_eq!(values.row(2).to_vec(), vec![8.0, 10.0, 12.0]);
            assert_eq!(values.row(0).to_vec(), vec![4.0, 5.0, 6.0]);
            assert_eq!(values.row(1).to_vec(), vec![10.0, 11.0, 12.0]);
        }
        ParamGrad::Dense(_) => panic!("an embedding read only through gather must get sparse rows"),
    }
    let dense = grads.dense(table, &[10, 3]).unwrap();
    assert_eq!(dense.sum(), (1..=12).sum::<usize>() as f64);
}

#[test]
fn table_used_densely_and_sparsely_gets_one_dense_gradient() {
    let mut store = ParamStore::<f64>::new();
    let table = store.add("emb", arr(&[4, 2], |i| i as f64)).unwrap();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let t = tape.param(table);
    let loss = t
        .gather_rows(&[1, 1])
        .unwrap()
        .sum()
        .unwrap()
        .add(t.sum().unwrap())
        .unwrap();
    tape.backward(loss, &mut grads).unwrap();
    let ParamGrad::Dense(d) = grads.get(table).unwrap() else {
        panic!("expected a dense gradient");
    };
    assert_eq!(
        d.to_owned(),
        array![[1.0, 1.0], [3.0, 3.0], [1.0, 1.0], [1.0, 1.0]].into_dyn()
    );
}

#[test]
fn value_used_twice_accumulates() {
    let mut store = ParamStore::<f64>::new();
    let x = store.add("x", array![3.0].into_dyn()).unwrap();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let v = tape.param(x);
    // y = x * x + x  =>  dy/dx = 2x + 1 = 7
    let y = v.mul(v).unwrap().add(v).unwrap().sum().unwrap();
    tape.backward(y, &mut grads).unwrap();
    assert_eq!(grads.dense(x, &[1]).unwrap()[[0]], 7.0);
}

#[test]
fn detach_keeps_the_value_and_stops_the_gradient() {
    let mut store = ParamStore::<f64>::new();
    let x = store.add("x", array![3.0].into_dyn()).unwrap();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let v = tape.param(x);
    // y = x * detach(x * x): the value is x^3 = 27, the gradient only through the first
    // factor: d/dx = detach(x^2) = 9 (not 3 x^2 = 27).
    let frozen = tape.detach(v.mul(v).unwrap());
    assert!(!frozen.requires_grad());
    let y = v.mul(frozen).unwrap().sum().unwrap();
    assert_eq!(y.scalar().unwrap(), 27.0);
    tape.backward(y, &mut grads).unwrap();
    assert_eq!(grads.dense(x, &[1]).unwrap()[[0]], 9.0);
}

#[test]
fn no_grad_tape_records_no_backward_and_refuses_backward() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", ArrayD::ones(vec![2, 2])).unwrap();
    let tape = Tape::no_grad(&store, Workspace::new());
    let y = tape.param(w).matmul(tape.param(w)).unwrap().sum().unwrap();
    assert_eq!(y.scalar().unwrap(), 8.0);
    assert!(!y.requires_grad());
    assert_eq!(tape.backward(y, &mut Gradients::new()), Err(AutogradError::NoGradTape));
}

#[test]
fn buffers_and_constants_get_no_gradient() {
    let mut store = ParamStore::<f64>::new();
    let w = store.add("w", array![2.0].into_dyn()).unwrap();
    let running = store.add_buffer("running_mean", array![5.0].into_dyn()).unwrap();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let y = tape.param(w).mul(tape.param(running)).unwrap().sum().unwrap();
    tape.backward(y, &mut grads).unwrap();
    assert_eq!(grads.dense(w, &[1]).unwrap()[[0]], 5.0);
    assert!(grads.get(running).is_none());
    assert_eq!(grads.ids().collect::<Vec<_>>(), vec![w]);
}

#[test]
fn bce_and_softmax_are_stable_for_huge_logits() {
    let mut store = ParamStore::<f32>::new();
    let x = store
        .add("x", array![-1000.0f32, 1000.0, 0.0, 88.0, -88.0].into_dyn())
        .unwrap();
    let y = array![1.0f32, 0.0, 1.0, 1.0, 0.0].into_dyn();
    let mut grads = Gradients::new();
    let tape = Tape::new(&store);
    let loss = tape
        .param(x)
        .bce_with_logits(tape.constant(y.view()), None, 1.0)
        .unwrap();
    let l = loss.value();
    assert!((l[0] - 1000.0).abs() < 1e-3 && (l[1] - 1000.0).abs() < 1e-3, "{l:?}");
    assert!((l[2] - std::f32::consts::LN_2).abs() < 1e-6);
    assert!(l[3] < 1e-30 && l[3] >= 0.0 && l[4] < 1e-30 && l[4] >= 0.0, "{l:?}");
    let total = loss.sum().unwrap();
    tape.backward(total, &mut grads).unwrap();
    let g = grads.dense(x, &[5]).unwrap();
    // dl/dx = s(x) - y: exactly -1, 1, -0.5 at the extremes and 0; s(-88) ~ 6e-39 is tiny but exact.
    let expected = [-1.0f32, 1.0, -0.5, 0.0, 0.0];
    assert!(g.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-30), "{g:?}");

    let tape = Tape::new(&store);
    let s = tape.param(x).softmax(0).unwrap().value();
    assert!(s.iter().all(|v| v.is_finite()));
    assert!((s[1] - 1.0).abs() < 1e-6);
    let ls = tape.param(x).log_softmax(0).unwrap().value();
    assert!((ls[0] + 2000.0).abs() < 1e-2, "{ls:?}");
}

#[test]
fn batch_norm_reports_batch_statistics() {
    let store = ParamStore::<f64>::new();
    let tape = Tape::new(&store);
    let x = tape.constant(array![[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]].into_dyn().view());
    let gamma = tape.full(&[2], 1.0);
    let beta = tape.full(&[2], 0.0);
    let (mut mean, mut var) = ([0.0; 2], [0.0; 2]);
    let y = x
        .batch_norm_train(gamma, beta, 0.0, &mut mean, &mut var)
        .unwrap()
        .value();
    assert_eq!(mean, [3.0, 10.0]);
    assert!((var[0] - 8.0 / 3.0).abs() < 1e-12 && var[1] == 0.0);
    let c0: Vec<f64> = y.column_of(0);
    assert!((c0[0] + (1.5f64).sqrt()).abs() < 1e-12, "{c0:?}");
}

trait Column {
    fn column_of(&self, j: usize) -> Vec<f64>;
}
impl Column for ArrayD<f64> {
    fn column_of(&self, j: usize) -> Vec<f64> {
        self.outer_iter().map(|r| r[j]).collect()
    }
}

#[test]
fn gradients_are_reused_between_steps_not_accumulated() {
    let mut store = ParamStore::<f64>::new();
    let w = store.add("w", array![1.0, 2.0].into_dyn()).unwrap();
    let mut grads = Gradients::new();
    let mut ws = Workspace::new();
    for _ in 0..3 {
        let tape = Tape::with_workspace(&store, ws);
        let loss = tape.param(w).mul_scalar(3.0).unwrap().sum().unwrap();
        tape.backward(loss, &mut grads).unwrap();
        ws = tape.into_workspace();
        assert_eq!(
            grads.dense(w, &[2]).unwrap().iter().copied().collect::<Vec<_>>(),
            vec![3.0, 3.0]
        );
    }
}

/// A bf16 tape rounds the operands of every product, forward and backward, and nothing else:
/// values and gradients stay within bf16's relative error of the f32 tape's, and differ from
/// them (the rounding happened); an f64 tape ignores the setting.
#[test]
fn a_bf16_tape_rounds_the_products_operands_only() {
    use hinet_autograd::Precision;
    let mut store = ParamStore::<f32>::new();
    let w1 = store
        .add(
            "w1",
            arr(&[24, 19], |i| ((i * 7919 % 97) as f64 / 97.0 - 0.5) * 0.6).mapv(|v| v as f32),
        )
        .unwrap();
    let w2 = store
        .add(
            "w2",
            arr(&[3, 5, 8], |i| ((i * 104_729 % 89) as f64 / 89.0 - 0.5) * 0.5).mapv(|v| v as f32),
        )
        .unwrap();
    let x = arr(&[37, 19], |i| ((i * 31 % 53) as f64 / 53.0 - 0.5) * 2.0).mapv(|v| v as f32);
    let run = |precision: Precision| {
        let tape = Tape::new(&store).with_precision(precision);
        assert_eq!(tape.precision(), precision);
        let h = tape
            .constant(x.view())
            .linear(tape.param(w1), None, Activation::Relu)
            .unwrap();
        // [37, 3 * 8] feeds three layers of [5, 8] (linear, grouped linear and a plain product).
        let y = h.grouped_linear(tape.param(w2), None, Activation::Identity).unwrap();
        let z = h.matmul(h.t().unwrap()).unwrap();
        let loss = y.mul(y).unwrap().mean().unwrap().add(z.mean().unwrap()).unwrap();
        let mut grads = Gradients::new();
        tape.backward(loss, &mut grads).unwrap();
        let dense = |id| match grads.get(id) {
            Some(ParamGrad::Dense(g)) => g.to_owned(),
            other => panic!("dense gradient expected, got {other:?}"),
        };
        (loss.scalar().unwrap(), dense(w1), dense(w2))
    };
    let (l32, g1_32, g2_32) = run(Precision::F32);
    let (l16, g1_16, g2_16) = run(Precision::Bf16);
    let rel = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
        num / b.iter().map(|v| v.abs()).sum::<f32>()
    };
    assert!(((l16 - l32) / l32).abs() < 0.02, "loss {l16} vs {l32}");
    for (what, a, b) in [("w1", &g1_16, &g1_32), ("w2", &g2_16, &g2_32)] {
        let r = rel(a, b);
        assert!(r < 0.03, "{what}: relative difference {r}");
        assert!(
            r > 1e-5,
            "{what}: bf16 gradients equal the f32 ones ({r}): nothing was rounded"
        );
    }
}

/// One row (up to four) on a bf16 tape that records no backward reads bf16 copies of the
/// weights: its linear and grouped-linear layers equal the products of the rounded operands
/// (to f32's summation error), unlike the f32 tape's; and a copy follows its parameter, through
/// `value_mut` and `set`, while the workspace that holds it is reused.
#[test]
fn a_bf16_inference_tape_reads_current_bf16_copies_of_the_weights() {
    use hinet_autograd::Precision;
    use hinet_kernels::round_to_bf16;
    let f32s = |a: ArrayD<f64>| a.mapv(|v| v as f32);
    let mut store = ParamStore::<f32>::new();
    // 40 inputs: a whole group of 32 of the kernels' bf16 layout and a tail.
    let w1 = store
        .add(
            "w1",
            f32s(arr(&[24, 40], |i| ((i * 7919 % 97) as f64 / 97.0 - 0.5) * 0.6)),
        )
        .unwrap();
    let b1 = store.add("b1", f32s(arr(&[24], |i| i as f64 * 0.01 - 0.1))).unwrap();
    let w2 = store
        .add(
            "w2",
            f32s(arr(&[3, 5, 8], |i| ((i * 104_729 % 89) as f64 / 89.0 - 0.5) * 0.5)),
        )
        .unwrap();
    let b2 = store.add("b2", f32s(arr(&[3, 5], |i| 0.05 - i as f64 * 0.01))).unwrap();
    let x = f32s(arr(&[3, 40], |i| ((i * 31 % 53) as f64 / 53.0 - 0.5) * 2.0));
    let forward = |store: &ParamStore<f32>, ws: Workspace<f32>, precision: Precision| {
        let tape = Tape::no_grad(store, ws).with_precision(precision);
        let h = tape
            .constant(x.view())
            .linear(tape.param(w1), Some(tape.param(b1)), Activation::Relu)
            .unwrap();
        let y = h
            .grouped_linear(tape.param(w2), Some(tape.param(b2)), Activation::Identity)
            .unwrap();
        let (h, y) = (h.value(), y.value());
        (h, y, tape.into_workspace())
    };
    // The products of the rounded operands in f64, and the scale of their error.
    let reference = |store: &ParamStore<f32>, h: &ArrayD<f32>| {
        let (wv1, bv1, wv2, bv2) = (store.value(w1), store.value(b1), store.value(w2), store.value(b2));
        let r = |v: f32| f64::from(round_to_bf16(v));
        let mut want_h = vec![0.0f64; 3 * 24];
        let mut want_y = vec![0.0f64; 3 * 3 * 5];
        for i in 0..3 {
            for o in 0..24 {
                let dot: f64 = (0..40).map(|p| r(x[[i, p]]) * r(wv1[[o, p]])).sum();
                want_h[i * 24 + o] = (dot + f64::from(bv1[o])).max(0.0);
            }
            for e in 0..3 {
                for o in 0..5 {
                    // Expert e reads column block e of h (the tape's h, to test this layer alone).
                    let dot: f64 = (0..8).map(|p| r(h[[i, e * 8 + p]]) * r(wv2[[e, o, p]])).sum();
                    want_y[(e * 3 + i) * 5 + o] = dot + f64::from(bv2[[e, o]]);
                }
            }
        }
        (want_h, want_y)
    };
    let check = |store: &ParamStore<f32>, ws: Workspace<f32>, what: &str| {
        let (h, y, ws) = forward(store, ws, Precision::Bf16);
        let (want_h, want_y) = reference(store, &h);
        let close = |got: &ArrayD<f32>, want: &[f64]| {
            got.iter()
                .zip(want)
                .all(|(&g, &w)| (f64::from(g) - w).abs() <= 1e-5 * (1.0 + w.abs()))
        };
        assert!(
            close(&h, &want_h),
            "{what}: linear is not the product of the bf16 weights"
        );
        assert!(
            close(&y, &want_y),
            "{what}: grouped linear is not the product of the bf16 weights"
        );
        // The f32 tape computes something measurably different (the bf16 copies were read).
        let (h32, _, _) = forward(store, Workspace::new(), Precision::F32);
        let diff = h.iter().zip(&h32).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff > 1e-4, "{what}: bf16 one-row layer equals the f32 one ({diff})");
        ws
    };
    let ws = check(&store, Workspace::new(), "first call");
    // The same workspace after the weights change: copies refreshed, not stale.
    store.value_mut(w1).mapv_inplace(|v| v * -1.5 + 0.01);
    let ws = check(&store, ws, "after value_mut");
    let mut w2_new = store.value(w2).clone();
    w2_new.mapv_inplace(|v| 0.3 - v);
    store.set(w2, w2_new).unwrap();
    let before = store.version(w2);
    let ws = check(&store, ws, "after set");
    assert_eq!(
        store.version(w2),
        before,
        "reading a parameter does not change its version"
    );
    // And the unchanged store again gives the same values from the copies already made.
    let (h_again, y_again, _) = forward(&store, ws, Precision::Bf16);
    let (h_fresh, y_fresh, _) = forward(&store, Workspace::new(), Precision::Bf16);
    assert_eq!(h_again, h_fresh);
    assert_eq!(y_again, y_fresh);
}
