//! Non-finite losses and predictions (class 5 of the data-safety brief): the error names the
//! task whose term is not finite, the parameter holding NaN or infinity and the batch rows
//! with a non-finite output, dense value or label, mapped to the caller's row ids on request.

use crate::common::{data, tiny_config};
use hinet_model::{MAX_LISTED_ROWS, ModelConfig, ModelError, ModelInput, NonFiniteReport, TrainOptions, Trainer};
use ndarray::Array2;
use std::collections::BTreeMap;

fn report(e: ModelError) -> NonFiniteReport {
    match e {
        ModelError::NonFiniteLoss(r) => *r,
        other => panic!("expected NonFiniteLoss, got {other}"),
    }
}

fn term(r: &NonFiniteReport, task: &str) -> f64 {
    r.terms.iter().find(|(n, _)| n == task).unwrap().1
}

#[test]
fn a_nan_input_names_its_row_column_and_tasks() {
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    let mut d = data::<f32>();
    d.dense[[4, 0]] = f32::NAN;
    let e = trainer.step(&d.input()).unwrap_err();
    let r = report(e);
    assert!(r.value.is_nan());
    assert_eq!(r.step, 0);
    assert!(term(&r, "ctr").is_nan() && term(&r, "ctcvr").is_nan());
    assert_eq!(r.parameter, None);
    assert_eq!(r.rows_total, 1);
    assert_eq!(r.rows[0].batch_row, 4);
    assert_eq!(r.rows[0].dense, vec!["price".to_string()]);
    assert_eq!(r.rows[0].logits, vec!["ctr".to_string(), "ctcvr".to_string()]);
    assert!(r.rows[0].labels.is_empty());
    // The caller's ids (e.g. `Batch::source_rows`) name the input row.
    let ids = [70, 71, 72, 73, 74, 75, 76];
    let msg = ModelError::NonFiniteLoss(Box::new(r.clone()))
        .with_row_ids(&ids)
        .to_string();
    assert!(
        msg.contains("the loss is not finite (NaN) at step 0")
            && msg.contains("`ctr` NaN")
            && msg.contains("row 74 (batch row 4) [dense price; output ctr ctcvr]"),
        "{msg}"
    );
    // The trainer still works on good data, and evaluation reports the same way.
    assert!(trainer.evaluate_loss(&data::<f32>().input()).unwrap().is_finite());
    let r2 = report(trainer.evaluate_loss(&d.input()).unwrap_err());
    assert_eq!(r2.rows, r.rows);
}

#[test]
fn a_nan_label_names_its_task_only() {
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    let mut d = data::<f32>();
    d.labels[[2, 1]] = f32::INFINITY;
    let r = report(trainer.step(&d.input()).unwrap_err());
    assert!(term(&r, "ctr").is_finite(), "{r}");
    assert!(!term(&r, "ctcvr").is_finite(), "{r}");
    assert_eq!(r.rows_total, 1);
    assert_eq!(r.rows[0].batch_row, 2);
    assert_eq!(r.rows[0].labels, vec!["ctcvr".to_string()]);
    assert!(r.rows[0].logits.is_empty() && r.rows[0].dense.is_empty());
    assert!(r.to_string().contains("non-finite terms: `ctcvr`"), "{r}");
}

/// Rows are listed up to `MAX_LISTED_ROWS` and counted in full.
#[test]
fn many_bad_rows_are_counted() {
    let rows = 20;
    let scenario = vec![0; rows];
    let offsets = [0, rows, rows, rows];
    let sparse: Vec<usize> = (0..2 * rows).map(|i| i % 5).collect();
    let dense = Array2::<f32>::from_elem((rows, 1), f32::NAN);
    let labels = Array2::<f32>::zeros((rows, 2));
    let input = ModelInput {
        rows,
        scenario: &scenario,
        scenario_offsets: &offsets,
        sparse: &sparse,
        dense: dense.view(),
        labels: Some(labels.view()),
    };
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    let r = report(trainer.step(&input).unwrap_err());
    assert_eq!(r.rows_total, rows);
    assert_eq!(r.rows.len(), MAX_LISTED_ROWS);
    assert_eq!(
        r.rows.iter().map(|f| f.batch_row).collect::<Vec<_>>(),
        (0..MAX_LISTED_ROWS).collect::<Vec<_>>()
    );
    assert!(r.to_string().contains("(20 rows in all)"), "{r}");
    // Predictions report the same rows.
    match trainer.predict(&input).unwrap_err() {
        ModelError::NonFinitePredictions(p) => {
            assert_eq!(p.rows_total, rows);
            assert!(p.to_string().starts_with("predictions are not finite"), "{p}");
        }
        other => panic!("{other}"),
    }
}

/// A diverged model (a learning rate so large that the weights overflow) names the parameter
/// that holds infinity or NaN; it can neither predict nor be saved over a good checkpoint.
#[test]
fn a_diverged_parameter_is_named() {
    let options = TrainOptions {
        lr: 1e300,
        ..TrainOptions::default()
    };
    let config = ModelConfig { ..tiny_config() };
    let mut trainer = Trainer::<f32>::new(&config, 1, &options).unwrap();
    let d = data::<f32>();
    trainer.step(&d.input()).unwrap();
    let r = report(trainer.step(&d.input()).unwrap_err());
    let p = r.parameter.clone().expect("a parameter holds inf or NaN");
    let id = trainer.store().id(&p).unwrap();
    assert!(trainer.store().value(id).iter().any(|v| !v.is_finite()));
    assert!(
        r.to_string()
            .contains(&format!("parameter `{p}` holds NaN or infinity")),
        "{r}"
    );
    assert_eq!(r.step, 1);
    assert!(matches!(
        trainer.predict(&d.input()),
        Err(ModelError::NonFinitePredictions(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diverged.safetensors");
    std::fs::write(&path, b"previous").unwrap();
    let e = trainer.save(&path, &BTreeMap::new()).unwrap_err().to_string();
    assert!(e.contains("not written"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
}
