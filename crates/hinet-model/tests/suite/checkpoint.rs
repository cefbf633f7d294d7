//! Checkpoints: round trips are bit-identical, resumed training equals training straight
//! through, and mismatches are refused with a message that names them.

use crate::common::{data, tiny_config};
use hinet_model::{ModelConfig, TrainOptions, Trainer, checkpoint};
use std::collections::BTreeMap;

#[test]
fn save_load_predict_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let d = data::<f32>();
    let mut trainer = Trainer::<f32>::new(
        &ModelConfig {
            input_batch_norm: true,
            ..tiny_config()
        },
        3,
        &TrainOptions::default(),
    )
    .unwrap();
    for _ in 0..5 {
        trainer.step(&d.input()).unwrap();
    }
    let before = trainer.predict(&d.input()).unwrap();
    trainer
        .save(&path, &BTreeMap::from([("note".to_string(), "test".to_string())]))
        .unwrap();
    let (mut loaded, info) = Trainer::<f32>::resume(&path, &TrainOptions::default()).unwrap();
    assert_eq!(info.step, 5);
    assert_eq!(info.extra["note"], "test");
    assert_eq!(loaded.predict(&d.input()).unwrap(), before);
    // no temporary file is left beside the checkpoint
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn resumed_training_equals_training_straight_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let d = data::<f32>();
    let config = tiny_config();
    let mut straight = Trainer::<f32>::new(&config, 11, &TrainOptions::default()).unwrap();
    for _ in 0..6 {
        straight.step(&d.input()).unwrap();
    }
    let mut first = Trainer::<f32>::new(&config, 11, &TrainOptions::default()).unwrap();
    for _ in 0..3 {
        first.step(&d.input()).unwrap();
    }
    first.save(&path, &BTreeMap::new()).unwrap();
    drop(first);
    let (mut resumed, _) = Trainer::<f32>::resume(&path, &TrainOptions::default()).unwrap();
    for _ in 0..3 {
        resumed.step(&d.input()).unwrap();
    }
    for id in straight.store().ids() {
        assert_eq!(
            straight.store().value(id),
            resumed.store().value(id),
            "{}",
            straight.store().name(id)
        );
    }
}

#[test]
fn mismatches_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    trainer.save(&path, &BTreeMap::new()).unwrap();

    let other = ModelConfig {
        sub_experts: 3,
        ..tiny_config()
    };
    let mut other_trainer = Trainer::<f32>::new(&other, 1, &TrainOptions::default()).unwrap();
    let store = other_trainer.store().clone();
    let mut store2 = store.clone();
    let e = checkpoint::load(&path, &other, &mut store2, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`sub_experts` (file: 2, model: 3)"), "{e}");
    let _ = &mut other_trainer;

    // Same config claimed, different shapes: pretend by loading into a model of another config
    // whose config we pass as the file's (the check on tensors must catch it).
    let mut store3 = store.clone();
    let e = checkpoint::load(&path, &tiny_config(), &mut store3, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("scenario.shared.experts.layer.0.weight: shape [2, 3, 5] in the file, [3, 3, 5] in the model"),
        "{e}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let e = checkpoint::read_info(&garbage).unwrap_err().to_string();
    assert!(
        e.contains("garbage.safetensors") && e.contains("not a safetensors file"),
        "{e}"
    );
    let e = checkpoint::read_info(&dir.path().join("missing.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.safetensors") && e.contains("cannot read"), "{e}");
}

#[test]
fn non_finite_loss_is_an_error_and_changes_nothing() {
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    let mut d = data::<f32>();
    d.dense[[0, 0]] = f32::NAN;
    let before: Vec<_> = trainer
        .store()
        .ids()
        .map(|id| trainer.store().value(id).clone())
        .collect();
    let e = trainer.step(&d.input()).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
    let after: Vec<_> = trainer
        .store()
        .ids()
        .map(|id| trainer.store().value(id).clone())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn concurrent_predictions_share_one_model() {
    use hinet_autograd::ParamStore;
    use hinet_model::Model;
    let mut store = ParamStore::<f32>::new();
    let mut model = Model::new(
        &ModelConfig {
            input_batch_norm: true,
            ..tiny_config()
        },
        &mut store,
        4,
    )
    .unwrap();
    hinet_layers::Module::<f32>::set_training(&mut model, false);
    let d = data::<f32>();
    let expected = model
        .predict(&store, &d.input(), &mut hinet_autograd::Workspace::default())
        .unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut ws = hinet_autograd::Workspace::default();
                    (0..20)
                        .map(|_| model.predict(&store, &d.input(), &mut ws).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for p in h.join().unwrap() {
                assert_eq!(p, expected);
            }
        }
    });
}
