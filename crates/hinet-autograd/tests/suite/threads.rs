//! Results do not depend on the number of threads: a graph large enough that every row-parallel
//! rule (row gathers, ReLU masks, bias sums, gate softmaxes and mixes, and their backward rules)
//! and the parallel GEMM split their work gives bit-identical outputs and gradients on 1, 2 and
//! 3 threads.

use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
use ndarray::ArrayD;

fn values(shape: &[usize], seed: usize) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0) * 0.5);
    ArrayD::from_shape_vec(shape, v.collect()).unwrap()
}

/// Loss value and every gradient (dense) of one forward and backward pass.
fn run(threads: usize) -> (f32, Vec<ArrayD<f32>>) {
    let (rows, vocab, width, experts, hidden) = (2048, 500, 40, 5, 64);
    let mut store = ParamStore::<f32>::new();
    let table = store.add("table", values(&[vocab, width], 1)).unwrap();
    let w1 = store.add("w1", values(&[experts, hidden, width], 2)).unwrap();
    let b1 = store.add("b1", values(&[experts, hidden], 3)).unwrap();
    let wg = store.add("wg", values(&[experts, width], 4)).unwrap();
    let bg = store.add("bg", values(&[experts], 5)).unwrap();
    let w2 = store.add("w2", values(&[1, hidden], 6)).unwrap();
    let ids: Vec<usize> = (0..rows).map(|r| (r * 37 + r / 3) % vocab).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let tape = Tape::new(&store);
        let x = tape.param(table).gather_rows(&ids).unwrap();
        // Five experts as one stacked linear layer, then [rows, 5 * hidden] -> [5, rows, hidden].
        let h = x
            .linear(tape.param(w1), Some(tape.param(b1)), Activation::Relu)
            .unwrap();
        let h = h
            .reshape(&[rows, experts, hidden])
            .unwrap()
            .permute(&[1, 0, 2])
            .unwrap();
        let z = x
            .linear(tape.param(wg), Some(tape.param(bg)), Activation::Identity)
            .unwrap();
        let mixed = z.gate(h).unwrap();
        let y = mixed.linear(tape.param(w2), None, Activation::Identity).unwrap();
        let loss = y.sigmoid().unwrap().mean().unwrap();
        let mut grads = Gradients::new();
        tape.backward(loss, &mut grads).unwrap();
        let g = [table, w1, b1, wg, bg, w2]
            .iter()
            .map(|&id| grads.dense(id, store.value(id).shape()).unwrap())
            .collect();
        (loss.scalar().unwrap(), g)
    })
}

#[test]
fn outputs_and_gradients_are_bit_identical_across_thread_counts() {
    let (loss1, g1) = run(1);
    assert!(loss1.is_finite());
    assert!(
        g1.iter().all(|g| g.iter().any(|&v| v != 0.0)),
        "every parameter gets a gradient"
    );
    for threads in [2, 3] {
        let (loss, g) = run(threads);
        assert_eq!(loss.to_bits(), loss1.to_bits(), "loss on {threads} threads");
        for (i, (a, b)) in g.iter().zip(&g1).enumerate() {
            assert!(
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "gradient {i} differs on {threads} threads"
            );
        }
    }
}
