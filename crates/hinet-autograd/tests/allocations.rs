//! A warm training loop reuses the engine's buffers instead of allocating per op: a counting
//! global allocator measures heap allocations per step of a small MLP.

use hinet_autograd::{Activation, Gradients, ParamGrad, ParamStore, Tape, Workspace};
use ndarray::ArrayD;

#[global_allocator]
static GLOBAL: hinet_testkit::CountingAlloc = hinet_testkit::CountingAlloc;

struct Mlp {
    emb: hinet_autograd::ParamId,
    w1: hinet_autograd::ParamId,
    b1: hinet_autograd::ParamId,
    w2: hinet_autograd::ParamId,
    b2: hinet_autograd::ParamId,
}

/// One SGD step; returns the number of tape nodes it recorded.
fn step(
    store: &mut ParamStore<f32>,
    m: &Mlp,
    ws: &mut Option<Workspace<f32>>,
    grads: &mut Gradients<f32>,
    ids: &[usize],
    y: &ArrayD<f32>,
) -> usize {
    let nodes;
    {
        let tape = Tape::with_workspace(store, ws.take().unwrap_or_default());
        let x = tape.param(m.emb).gather_rows(ids).unwrap();
        let h = x
            .linear(tape.param(m.w1), Some(tape.param(m.b1)), Activation::Relu)
            .unwrap();
        let logits = h
            .linear(tape.param(m.w2), Some(tape.param(m.b2)), Activation::Identity)
            .unwrap();
        let loss = logits
            .bce_with_logits(tape.constant(y.view()), None, 1.0)
            .unwrap()
            .mean()
            .unwrap();
        tape.backward(loss, grads).unwrap();
        nodes = tape.len();
        *ws = Some(tape.into_workspace());
    }
    for id in [m.emb, m.w1, m.b1, m.w2, m.b2] {
        match grads.get(id) {
            Some(ParamGrad::Dense(g)) => {
                let v = store.value_mut(id);
                v.zip_mut_with(&g, |p, &g| *p -= 0.1 * g);
            }
            Some(ParamGrad::Rows { rows, values }) => {
                let v = store.value_mut(id);
                for (k, &r) in rows.iter().enumerate() {
                    let mut row = v.index_axis_mut(ndarray::Axis(0), r);
                    row.zip_mut_with(&values.row(k), |p, &g| *p -= 0.1 * g);
                }
            }
            None => {}
        }
    }
    nodes
}

#[test]
fn warm_training_steps_allocate_nothing_per_op() {
    let mut store = ParamStore::<f32>::new();
    let m = Mlp {
        emb: store.add("emb", ArrayD::from_elem(vec![50, 8], 0.1)).unwrap(),
        w1: store
            .add(
                "w1",
                ArrayD::from_shape_fn(vec![16, 8], |d| (d[0] as f32 - d[1] as f32) * 0.05),
            )
            .unwrap(),
        b1: store.add("b1", ArrayD::zeros(vec![16])).unwrap(),
        w2: store.add("w2", ArrayD::from_elem(vec![1, 16], 0.1)).unwrap(),
        b2: store.add("b2", ArrayD::zeros(vec![1])).unwrap(),
    };
    let ids: Vec<usize> = (0..32).map(|i| (i * 7) % 50).collect();
    let y = ArrayD::from_shape_fn(vec![32, 1], |d| (d[0] % 2) as f32);
    let mut ws = None;
    let mut grads = Gradients::new();
    for _ in 0..3 {
        step(&mut store, &m, &mut ws, &mut grads, &ids, &y);
    }
    let steps = 10;
    let before = hinet_testkit::allocations();
    let bytes_before = hinet_testkit::bytes_allocated();
    let mut nodes = 0;
    for _ in 0..steps {
        nodes = step(&mut store, &m, &mut ws, &mut grads, &ids, &y);
    }
    let per_step = (hinet_testkit::allocations() - before) / steps;
    let bytes_per_step = (hinet_testkit::bytes_allocated() - bytes_before) / steps;
    println!("{nodes} nodes per step; {per_step} heap allocations ({bytes_per_step} bytes) per warm step");
    assert_eq!(
        per_step, 0,
        "a warm step allocated {per_step} times ({bytes_per_step} bytes) for {nodes} nodes"
    );
}
