//! One Adam step over ~1.3M f32 parameters (the HiNet bench-default model size), on 1 and 2
//! threads. Run with `cargo bench -p hinet-optim --bench adam`.

use criterion::{Criterion, criterion_group, criterion_main};
use hinet_autograd::{Gradients, ParamStore, Tape};
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup};
use ndarray::ArrayD;
use std::hint::black_box;

fn setup(sparse_rows: Option<usize>) -> (ParamStore<f32>, Gradients<f32>, Optimizer<f32>) {
    let mut store = ParamStore::<f32>::new();
    // An embedding table and an MLP: 640,000 + 524,288 + 131,072 + 32,768 + ... ~ 1.33M.
    let shapes: [&[usize]; 7] = [
        &[10_000, 64],
        &[512, 1024],
        &[512],
        &[256, 512],
        &[256],
        &[128, 256],
        &[128],
    ];
    let ids: Vec<_> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| store.add(format!("p{i}"), ArrayD::from_elem(s.to_vec(), 0.01)).unwrap())
        .collect();
    let mut grads = Gradients::new();
    {
        let tape = Tape::new(&store);
        let mut loss = None;
        for (i, &id) in ids.iter().enumerate() {
            let v = if i == 0
                && let Some(n) = sparse_rows
            {
                let rows: Vec<usize> = (0..n).map(|k| k * (10_000 / n)).collect();
                tape.param(id).gather_rows(&rows).unwrap().sum().unwrap()
            } else {
                tape.param(id).mul_scalar(0.5).unwrap().sum().unwrap()
            };
            loss = Some(match loss {
                None => v,
                Some(l) => v.add(l).unwrap(),
            });
        }
        tape.backward(loss.unwrap(), &mut grads).unwrap();
    }
    let groups = vec![ParamGroup::new("emb", vec![ids[0]]).with_sparse(sparse_rows.is_some())];
    let mut opt = Optimizer::new(OptimizerKind::adam(), 1e-3, groups, &store).unwrap();
    opt.set_clip_norm(Some(1.0)).unwrap();
    opt.step(&mut store, &grads).unwrap(); // allocate state
    (store, grads, opt)
}

fn bench(c: &mut Criterion) {
    let n = setup(None).0.num_trainable_elements();
    for (label, sparse) in [("dense", None), ("lazy_emb_4096_rows", Some(4096))] {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (mut store, grads, mut opt) = setup(sparse);
            c.bench_function(&format!("adam_step/{label}/{n}_params/{threads}_threads"), |b| {
                b.iter(|| pool.install(|| black_box(opt.step(&mut store, &grads).unwrap())))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
