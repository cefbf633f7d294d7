//! Every op's backward rule against central finite differences in f64, on shapes with
//! 1-sized and non-square dimensions, and broadcasting.

use hinet_autograd::{Activation, GradcheckOptions, Result, Tape, Var, concat, gradcheck};
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// Values bounded away from 0 (kinks of relu, poles of log/div), either sign.
fn away_from_zero(shape: &[usize], seed: u64) -> ArrayD<f64> {
    random(shape, seed).mapv(|v| if v >= 0.0 { v + 0.2 } else { v - 0.2 })
}

fn positive(shape: &[usize], seed: u64) -> ArrayD<f64> {
    random(shape, seed).mapv(|v| v.abs() + 0.3)
}

fn check<Fun>(name: &str, inputs: &[ArrayD<f64>], f: Fun)
where
    Fun: for<'t> Fn(&'t Tape<'t, f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let report = gradcheck(inputs, f, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        report.checked > 0 || inputs.iter().all(|x| x.is_empty()),
        "{name}: nothing checked"
    );
    assert!(report.passed(), "{name}: {report:?}");
}

const MATRIX_SHAPES: &[(usize, usize, usize)] = &[(1, 1, 1), (1, 3, 2), (4, 1, 3), (3, 5, 1), (5, 4, 7), (2, 2, 2)];

#[test]
fn matmul_every_transpose() {
    for (s, &(m, k, n)) in MATRIX_SHAPES.iter().enumerate() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = random(&(if ta { [k, m] } else { [m, k] }), s as u64);
            let b = random(&(if tb { [n, k] } else { [k, n] }), 100 + s as u64);
            check(&format!("matmul {m}x{k}x{n} ta={ta} tb={tb}"), &[a, b], |_, v| {
                v[0].matmul_t(v[1], ta, tb)
            });
        }
    }
}

#[test]
fn matmul_same_operand_twice_accumulates() {
    // x^T x uses x twice: both contributions must add up.
    check("x^T x", &[random(&[4, 3], 7)], |_, v| v[0].matmul_t(v[0], true, false));
}

#[test]
fn batched_matmul_every_transpose() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (batch, m, k, n) = (3, 2, 4, 1);
        let a = random(&(if ta { [batch, k, m] } else { [batch, m, k] }), 1);
        let b = random(&(if tb { [batch, n, k] } else { [batch, k, n] }), 2);
        check(&format!("batched_matmul ta={ta} tb={tb}"), &[a, b], |_, v| {
            v[0].batched_matmul(v[1], ta, tb)
        });
    }
}

const BROADCAST_PAIRS: &[(&[usize], &[usize])] = &[
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[3, 1], &[1, 4]),
    (&[2, 3, 4], &[3, 1]),
    (&[1], &[2, 3]),
    (&[5], &[]),
    (&[2, 1, 3], &[4, 1]),
];

#[test]
fn add_sub_mul_div_with_broadcasting() {
    for (i, &(sa, sb)) in BROADCAST_PAIRS.iter().enumerate() {
        let a = random(sa, i as u64);
        let b = away_from_zero(sb, 50 + i as u64);
        check(&format!("add {sa:?} {sb:?}"), &[a.clone(), b.clone()], |_, v| {
            v[0].add(v[1])
        });
        check(&format!("sub {sb:?} {sa:?}"), &[b.clone(), a.clone()], |_, v| {
            v[0].sub(v[1])
        });
        check(&format!("mul {sa:?} {sb:?}"), &[a.clone(), b.clone()], |_, v| {
            v[0].mul(v[1])
        });
        check(&format!("div {sa:?} {sb:?}"), &[a.clone(), b.clone()], |_, v| {
            v[0].div(v[1])
        });
    }
}

#[test]
fn scalar_ops() {
    let x = positive(&[3, 1, 2], 3);
    check("add_scalar", std::slice::from_ref(&x), |_, v| v[0].add_scalar(0.7));
    check("mul_scalar", std::slice::from_ref(&x), |_, v| v[0].mul_scalar(-1.3));
    check("powf", std::slice::from_ref(&x), |_, v| v[0].powf(2.5));
    check("powf negative exponent", &[x], |_, v| v[0].powf(-1.5));
}

#[test]
fn unary_ops() {
    let x = away_from_zero(&[4, 3], 4);
    let p = positive(&[1, 5], 5);
    check("neg", std::slice::from_ref(&x), |_, v| v[0].neg());
    check("exp", std::slice::from_ref(&x), |_, v| v[0].exp());
    check("log", std::slice::from_ref(&p), |_, v| v[0].log());
    check("sqrt", &[p], |_, v| v[0].sqrt());
    check("sigmoid", std::slice::from_ref(&x), |_, v| v[0].sigmoid());
    check("tanh", std::slice::from_ref(&x), |_, v| v[0].tanh());
    check("relu", &[x], |_, v| v[0].relu());
}

#[test]
fn softmax_and_log_softmax_along_each_axis() {
    let x = random(&[3, 1, 4], 6).mapv(|v| 3.0 * v);
    for axis in 0..3 {
        check(&format!("softmax axis {axis}"), std::slice::from_ref(&x), |_, v| {
            v[0].softmax(axis)
        });
        check(&format!("log_softmax axis {axis}"), std::slice::from_ref(&x), |_, v| {
            v[0].log_softmax(axis)
        });
    }
}

#[test]
fn reductions() {
    let x = random(&[2, 3, 1], 8);
    check("sum", std::slice::from_ref(&x), |_, v| v[0].sum());
    check("mean", std::slice::from_ref(&x), |_, v| v[0].mean());
    for axis in 0..3 {
        check(&format!("sum_axis {axis}"), std::slice::from_ref(&x), |_, v| {
            v[0].sum_axis(axis)
        });
        check(&format!("mean_axis {axis}"), std::slice::from_ref(&x), |_, v| {
            v[0].mean_axis(axis)
        });
    }
}

#[test]
fn shape_ops() {
    let x = random(&[2, 3, 4], 9);
    check("reshape", std::slice::from_ref(&x), |_, v| v[0].reshape(&[4, 6]));
    check("permute", std::slice::from_ref(&x), |_, v| v[0].permute(&[2, 0, 1]));
    check("transpose", &[random(&[3, 5], 10)], |_, v| v[0].t());
    check("narrow", std::slice::from_ref(&x), |_, v| v[0].narrow(2, 1, 2));
    check("split then recombine unevenly", std::slice::from_ref(&x), |_, v| {
        let parts = v[0].split(1, &[1, 2])?;
        parts[0].sum()?.add(parts[1].mul_scalar(2.0)?.sum()?)
    });
    for axis in 0..3 {
        let mut shape_b = [2, 3, 4];
        shape_b[axis] = 1;
        let b = random(&shape_b, 11);
        check(&format!("concat axis {axis}"), &[x.clone(), b], |_, v| {
            concat(&[v[0], v[1], v[0]], axis)
        });
    }
}

#[test]
fn gather_and_scatter_rows() {
    let table = random(&[5, 3], 12);
    // Repeated indices: a row read twice gets both gradients.
    check("gather_rows", std::slice::from_ref(&table), |_, v| {
        v[0].gather_rows(&[4, 0, 4, 2])
    });
    check("gather_rows of an intermediate", &[table], |_, v| {
        v[0].mul_scalar(2.0)?.gather_rows(&[1, 1, 3])
    });
    check("scatter_add_rows", &[random(&[4, 2], 13)], |_, v| {
        v[0].scatter_add_rows(&[3, 0, 3, 1], 5)
    });
    check("select then scatter rows", &[random(&[6, 2], 14)], |_, v| {
        v[0].select_rows(&[5, 2, 0])?.tanh()?.scatter_rows(&[5, 2, 0], 6)
    });
}

#[test]
fn bce_with_logits_all_inputs() {
    let x = random(&[4, 2], 15).mapv(|v| 4.0 * v);
    let y = random(&[4, 2], 16).mapv(|v| (v + 1.0) / 2.0); // soft labels in (0, 1)
    let w = positive(&[4, 2], 17);
    check("bce", &[x.clone(), y.clone()], |_, v| {
        v[0].bce_with_logits(v[1], None, 1.0)
    });
    check("bce weighted, pos_weight 3", &[x, y, w], |_, v| {
        v[0].bce_with_logits(v[1], Some(v[2]), 3.0)
    });
}

#[test]
fn dropout_with_seeded_mask() {
    let x = random(&[6, 5], 18);
    check("dropout", &[x], |_, v| {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        v[0].dropout(0.3, &mut rng)
    });
}

#[test]
fn batch_norm_training_and_inference() {
    let x = random(&[5, 3], 19);
    let gamma = positive(&[3], 20);
    let beta = random(&[3], 21);
    check("batch_norm train", &[x.clone(), gamma.clone(), beta.clone()], |_, v| {
        let (mut m, mut s) = ([0.0; 3], [0.0; 3]);
        v[0].batch_norm_train(v[1], v[2], 1e-5, &mut m, &mut s)
    });
    let rm = random(&[3], 22);
    let rv = positive(&[3], 23);
    check("batch_norm eval", &[x, gamma, beta], |t, v| {
        let (rm, rv) = (t.constant(rm.view()), t.constant(rv.view()));
        v[0].batch_norm_eval(rm, rv, v[1], v[2], 1e-5)
    });
}

#[test]
fn fused_linear() {
    for &(n, i, o) in &[(1, 1, 1), (4, 3, 2), (3, 1, 5), (2, 6, 1)] {
        let x = random(&[n, i], 24);
        let w = random(&[o, i], 25);
        let b = random(&[o], 26);
        check(
            &format!("linear {n}x{i}->{o}"),
            &[x.clone(), w.clone(), b.clone()],
            |_, v| v[0].linear(v[1], Some(v[2]), Activation::Identity),
        );
        // ReLU: shift the bias so no pre-activation sits at the kink.
        let bb = b.mapv(|v| v + 0.05);
        check(
            &format!("linear+relu {n}x{i}->{o}"),
            &[x.clone(), w.clone(), bb],
            |_, v| v[0].linear(v[1], Some(v[2]), Activation::Relu),
        );
        check(&format!("linear no bias {n}x{i}->{o}"), &[x, w], |_, v| {
            v[0].linear(v[1], None, Activation::Identity)
        });
    }
}

#[test]
fn linear_with_stacked_expert_weights() {
    // [K, h, in] weights read as [K * h, in]: K first layers as one product.
    let x = random(&[3, 4], 40);
    let w = random(&[2, 3, 4], 41);
    let b = random(&[2, 3], 42).mapv(|v| v + 0.05);
    check("linear [K, h, in]", &[x, w, b], |_, v| {
        v[0].linear(v[1], Some(v[2]), Activation::Relu)
    });
}

#[test]
fn grouped_linear_both_input_layouts() {
    let (k, n, i, o) = (3, 4, 2, 5);
    let w = random(&[k, o, i], 43);
    let b = random(&[k, o], 44).mapv(|v| v + 0.05);
    for act in [Activation::Identity, Activation::Relu] {
        let blocks = random(&[k, n, i], 45);
        check(
            &format!("grouped_linear [K, n, in] {act:?}"),
            &[blocks, w.clone(), b.clone()],
            |_, v| v[0].grouped_linear(v[1], Some(v[2]), act),
        );
        let columns = random(&[n, k * i], 46);
        check(
            &format!("grouped_linear [n, K*in] {act:?}"),
            &[columns, w.clone(), b.clone()],
            |_, v| v[0].grouped_linear(v[1], Some(v[2]), act),
        );
    }
    check("grouped_linear no bias", &[random(&[n, k * i], 47), w], |_, v| {
        v[0].grouped_linear(v[1], None, Activation::Identity)
    });
}

#[test]
fn grouped_linear_equals_separate_layers() {
    use hinet_autograd::ParamStore;
    let store = ParamStore::<f64>::new();
    let tape = Tape::new(&store);
    let x = random(&[4, 6], 48); // K = 2 blocks of 3 columns
    let w = random(&[2, 5, 3], 49);
    let b = random(&[2, 5], 50);
    let (xv, wv, bv) = (
        tape.constant(x.view()),
        tape.constant(w.view()),
        tape.constant(b.view()),
    );
    let y = xv.grouped_linear(wv, Some(bv), Activation::Relu).unwrap().value();
    for e in 0..2 {
        let xe = xv.narrow(1, 3 * e, 3).unwrap();
        let we = wv.narrow(0, e, 1).unwrap().reshape(&[5, 3]).unwrap();
        let be = bv.narrow(0, e, 1).unwrap().reshape(&[5]).unwrap();
        let ye = xe.linear(we, Some(be), Activation::Relu).unwrap().value();
        let got = y.index_axis(ndarray::Axis(0), e).to_owned();
        assert!(got.iter().zip(ye.iter()).all(|(a, b)| (a - b).abs() < 1e-12));
    }
    let err = xv
        .grouped_linear(tape.constant(random(&[2, 5, 4], 51).view()), None, Activation::Relu)
        .unwrap_err();
    assert!(err.to_string().starts_with("grouped_linear"), "{err}");
}

#[test]
fn fused_gate_and_mix() {
    for &(e, n, d) in &[(1, 1, 1), (5, 3, 2), (2, 4, 1), (3, 1, 4)] {
        let z = random(&[n, e], 27);
        let experts = random(&[e, n, d], 28);
        check(
            &format!("gate E={e} n={n} d={d}"),
            &[z.clone(), experts.clone()],
            |_, v| v[0].gate(v[1]),
        );
        check(&format!("mix E={e} n={n} d={d}"), &[z, experts], |_, v| v[0].mix(v[1]));
    }
}

#[test]
fn composite_two_layer_network() {
    let x = random(&[4, 3], 29);
    let w1 = random(&[5, 3], 30);
    let w2 = random(&[1, 5], 31);
    let y = random(&[4, 1], 32).mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    check("mlp + bce", &[w1, w2], |t, v| {
        let h = t.constant(x.view()).linear(v[0], None, Activation::Identity)?.tanh()?;
        h.linear(v[1], None, Activation::Identity)?
            .bce_with_logits(t.constant(y.view()), None, 1.0)?
            .mean()
    });
}

mod random_shapes {
    use super::*;
    use proptest::prelude::*;

    fn shape_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        // An output shape of 1-3 dims with sizes 1-4; each operand keeps a suffix of it with
        // some sizes replaced by 1, so the pair always broadcasts.
        (prop::collection::vec(1usize..4, 1..4), any::<u64>()).prop_map(|(out, bits)| {
            let pick = |salt: u64| {
                let keep = (bits >> salt) as usize % (out.len() + 1);
                out[out.len() - keep..]
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if (bits >> (salt + 8 + i as u64)) & 1 == 1 { 1 } else { d })
                    .collect::<Vec<_>>()
            };
            (pick(0), pick(20))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn broadcast_mul_div((sa, sb) in shape_pair(), seed in 0u64..1000) {
            let a = random(&sa, seed);
            let b = away_from_zero(&sb, seed + 1);
            let r = gradcheck(&[a, b], |_, v| v[0].mul(v[1])?.div(v[1].exp()?), GradcheckOptions::default()).unwrap();
            prop_assert!(r.passed(), "{sa:?} {sb:?}: {r:?}");
        }

        #[test]
        fn matmul_random((m, k, n) in (1usize..6, 1usize..6, 1usize..6), ta: bool, tb: bool, seed in 0u64..1000) {
            let a = random(&(if ta { [k, m] } else { [m, k] }), seed);
            let b = random(&(if tb { [n, k] } else { [k, n] }), seed + 7);
            let r = gradcheck(&[a, b], |_, v| v[0].matmul_t(v[1], ta, tb), GradcheckOptions::default()).unwrap();
            prop_assert!(r.passed(), "{m}x{k}x{n}: {r:?}");
        }
    }
}

#[test]
fn gradcheck_detects_a_wrong_gradient() {
    // Detaching the input (re-entering its value as a constant) makes the engine's gradient
    // zero while the function still depends on it: the check must fail, not pass vacuously.
    let x = random(&[3, 2], 33);
    let report = gradcheck(
        &[x],
        |t, v| {
            let detached = t.constant(v[0].value().view());
            v[0].mul_scalar(0.0)?.add(detached.tanh()?)
        },
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(!report.passed(), "{report:?}");
    assert!(report.max_error > 0.1);
}
