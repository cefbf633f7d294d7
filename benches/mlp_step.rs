//! The engine's cost per training step of a small MLP (forward, backward, SGD), at two sizes:
//! a tiny one where per-op overhead dominates, and one expert of HiNet's scenario layer
//! (320 -> 128 -> 64) where the arithmetic does.
//!
//! Run: `cargo bench --bench mlp_step`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hinet::autograd::{Activation, Gradients, ParamGrad, ParamId, ParamStore, Tape, Workspace};
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

struct Mlp {
    layers: Vec<(ParamId, ParamId)>,
}

fn build(store: &mut ParamStore<f32>, widths: &[usize], rng: &mut ChaCha8Rng) -> Mlp {
    let mut layers = Vec::new();
    for (i, w) in widths.windows(2).enumerate() {
        let bound = (6.0 / (w[0] + w[1]) as f32).sqrt();
        let weight = ArrayD::from_shape_fn(vec![w[1], w[0]], |_| rng.random_range(-bound..bound));
        let wid = store.add(format!("layer.{i}.weight"), weight).expect("unique");
        let bid = store
            .add(format!("layer.{i}.bias"), ArrayD::zeros(vec![w[1]]))
            .expect("unique");
        layers.push((wid, bid));
    }
    Mlp { layers }
}

fn step(
    store: &mut ParamStore<f32>,
    mlp: &Mlp,
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
    ws: &mut Option<Workspace<f32>>,
    grads: &mut Gradients<f32>,
) {
    {
        let tape = Tape::with_workspace(store, ws.take().unwrap_or_default());
        let mut h = tape.constant(x.view());
        let last = mlp.layers.len() - 1;
        for (i, &(w, b)) in mlp.layers.iter().enumerate() {
            let act = if i == last {
                Activation::Identity
            } else {
                Activation::Relu
            };
            h = h.linear(tape.param(w), Some(tape.param(b)), act).expect("shapes fit");
        }
        let loss = h
            .bce_with_logits(tape.constant(y.view()), None, 1.0)
            .and_then(|l| l.mean())
            .expect("shapes fit");
        tape.backward(loss, grads).expect("scalar loss");
        black_box(loss.scalar().ok());
        *ws = Some(tape.into_workspace());
    }
    for &(w, b) in &mlp.layers {
        for id in [w, b] {
            if let Some(ParamGrad::Dense(g)) = grads.get(id) {
                store.value_mut(id).zip_mut_with(&g, |p, &g| *p -= 1e-3 * g);
            }
        }
    }
}

fn bench_mlp_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("mlp_step");
    for (name, batch, widths) in [
        ("tiny 16-16-1", 32usize, vec![16usize, 16, 1]),
        ("expert 320-128-64-1", 256, vec![320, 128, 64, 1]),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut store = ParamStore::new();
        let mlp = build(&mut store, &widths, &mut rng);
        let x = ArrayD::from_shape_fn(vec![batch, widths[0]], |_| rng.random_range(-1.0f32..1.0));
        let y = ArrayD::from_shape_fn(vec![batch, 1], |_| if rng.random::<bool>() { 1.0f32 } else { 0.0 });
        let mut ws = None;
        let mut grads = Gradients::new();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new(name, batch), |bench| {
            bench.iter(|| step(&mut store, &mlp, &x, &y, &mut ws, &mut grads))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_mlp_step
}
criterion_main!(benches);
