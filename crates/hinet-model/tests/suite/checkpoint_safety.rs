//! Checkpoint data safety (classes 1, 2 and 4 of the data-safety brief): non-finite values,
//! shapes and dtypes that disagree with the stored config, and configs that describe more data
//! than the file holds are refused naming what is wrong; evaluation loads a checkpoint saved
//! without optimiser state; failed writes name the checkpoint and leave no temporary file.

use crate::common::{data, tiny_config};
use hinet_model::checkpoint::{self, CheckpointInfo};
use hinet_model::{ModelConfig, ModelError, SparseFeature, TrainOptions, Trainer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A checkpoint's content as plain data, to rewrite it.
pub struct Parts {
    pub meta: HashMap<String, String>,
    pub tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Parts {
    pub fn read(path: &Path) -> Parts {
        let bytes = std::fs::read(path).unwrap();
        let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<_> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Parts {
            meta: metadata.metadata().clone().unwrap_or_default(),
            tensors,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, Some(self.meta.clone())).unwrap()
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).unwrap();
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut (String, Dtype, Vec<usize>, Vec<u8>) {
        self.tensors.iter_mut().find(|t| t.0 == name).unwrap()
    }
}

/// A trained tiny model (input batch norm, so buffers too) saved with its Adam state.
fn trained(dir: &Path) -> (PathBuf, Trainer<f32>) {
    let path = dir.join("model.safetensors");
    let mut trainer = Trainer::<f32>::new(
        &ModelConfig {
            input_batch_norm: true,
            ..tiny_config()
        },
        5,
        &TrainOptions::default(),
    )
    .unwrap();
    let d = data::<f32>();
    for _ in 0..3 {
        trainer.step(&d.input()).unwrap();
    }
    trainer.save(&path, &BTreeMap::new()).unwrap();
    (path, trainer)
}

fn load_err(path: &Path) -> String {
    match Trainer::<f32>::load_for_inference(path, &TrainOptions::default()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

fn resume_err(path: &Path) -> String {
    match Trainer::<f32>::resume(path, &TrainOptions::default()) {
        Ok(_) => panic!("{} resumed", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Class 1: a checkpoint with NaN or infinite weights (a parameter, a buffer) or optimiser
/// state is refused at load naming the tensor and the element; evaluation never sees them.
#[test]
fn non_finite_tensors_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = trained(dir.path());
    let good = Parts::read(&path);
    for name in [
        "input.embedding.field.1.weight",
        "input.norm.running_var",
        "task.2.tower.1.logit.bias",
    ] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut parts = Parts::read(&path);
            let t = parts.tensor_mut(name);
            let last = t.3.len() - 4;
            t.3[last..].copy_from_slice(&bad.to_le_bytes());
            let element = last / 4;
            let bad_path = dir.path().join("bad.safetensors");
            parts.write(&bad_path);
            for e in [load_err(&bad_path), resume_err(&bad_path)] {
                assert!(
                    e.contains("bad.safetensors") && e.contains(&format!("{name}: element {element} is {bad}")),
                    "{e}"
                );
            }
        }
    }
    // Optimiser state: resuming refuses it; evaluation does not read it.
    let state = good
        .tensors
        .iter()
        .find(|t| t.0.ends_with(".exp_avg_sq"))
        .unwrap()
        .0
        .clone();
    let mut parts = Parts::read(&path);
    parts.tensor_mut(&state).3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let bad_path = dir.path().join("bad-state.safetensors");
    parts.write(&bad_path);
    let e = resume_err(&bad_path);
    assert!(e.contains(&format!("{state}: element 0 is NaN")), "{e}");
    assert!(Trainer::<f32>::load_for_inference(&bad_path, &TrainOptions::default()).is_ok());
    // A negative second moment would make every update NaN: refused too.
    let mut parts = Parts::read(&path);
    parts.tensor_mut(&state).3[..4].copy_from_slice(&(-1.0f32).to_le_bytes());
    parts.write(&bad_path);
    let e = resume_err(&bad_path);
    assert!(
        e.contains(&state["optim.".len()..]) && e.contains("cannot be negative"),
        "{e}"
    );
}

/// Class 1: an f64 checkpoint whose value overflows f32 is refused when loaded as f32 (it would
/// become infinity), naming the tensor; in range, the f64 file loads into an f32 model.
#[test]
fn values_that_overflow_the_model_type_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f64.safetensors");
    let trainer = Trainer::<f64>::new(&tiny_config(), 2, &TrainOptions::default()).unwrap();
    trainer.save(&path, &BTreeMap::new()).unwrap();
    let (f32_model, _) = Trainer::<f32>::load_for_inference(&path, &TrainOptions::default()).unwrap();
    let id = trainer.store().id("scenario.shared.gate.bias").unwrap();
    assert_eq!(f32_model.store().value(id).len(), trainer.store().value(id).len());
    let mut parts = Parts::read(&path);
    let t = parts.tensor_mut("scenario.shared.gate.bias");
    assert_eq!(t.1, Dtype::F64);
    t.3[..8].copy_from_slice(&1e300f64.to_le_bytes());
    parts.write(&path);
    let e = load_err(&path);
    assert!(e.contains("scenario.shared.gate.bias: element 0 is inf"), "{e}");
    // As f64 it is finite and loads.
    assert!(Trainer::<f64>::load_for_inference(&path, &TrainOptions::default()).is_ok());
}

/// Class 1: tensors whose shape or dtype disagree with the stored config, missing and
/// unexpected tensors are refused naming each one.
#[test]
fn shapes_and_dtypes_that_disagree_with_the_config_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = trained(dir.path());
    let bad_path = dir.path().join("bad.safetensors");

    let mut parts = Parts::read(&path);
    let t = parts.tensor_mut("scenario.shared.experts.layer.0.weight");
    assert_eq!(t.2, vec![2, 3, 5]);
    t.2 = vec![2, 5, 3];
    parts.write(&bad_path);
    let e = load_err(&bad_path);
    assert!(
        e.contains("scenario.shared.experts.layer.0.weight: shape [2, 5, 3] in the file, [2, 3, 5] in the model"),
        "{e}"
    );

    let mut parts = Parts::read(&path);
    let t = parts.tensor_mut("task.0.tower.0.logit.bias");
    t.1 = Dtype::I32;
    parts.write(&bad_path);
    let e = load_err(&bad_path);
    assert!(
        e.contains("task.0.tower.0.logit.bias: dtype I32, expected F32 or F64"),
        "{e}"
    );

    let mut parts = Parts::read(&path);
    parts.tensors.retain(|t| t.0 != "input.norm.running_mean");
    parts
        .tensors
        .push(("legacy.weight".into(), Dtype::F32, vec![1], vec![0; 4]));
    parts.write(&bad_path);
    let e = load_err(&bad_path);
    assert!(
        e.contains("input.norm.running_mean: missing from the file")
            && e.contains("legacy.weight: in the file but not in the model"),
        "{e}"
    );
}

/// Class 3 at load: a stored config that describes far more data than the file holds (a
/// vocabulary of 10^9, a width of 2^62) is refused from the header alone, before a model is
/// built; the allocation bound itself is checked in `tests/allocations.rs`.
#[test]
fn stored_configs_larger_than_the_file_are_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = trained(dir.path());
    let bad_path = dir.path().join("bad.safetensors");
    for (config, expect) in [
        (
            ModelConfig {
                input_batch_norm: true,
                sparse: vec![SparseFeature {
                    name: "user".into(),
                    vocab: 1_000_000_000,
                    dim: 16,
                }],
                ..tiny_config()
            },
            "the stored config describes",
        ),
        (
            ModelConfig {
                input_batch_norm: true,
                expert_hidden: vec![1 << 62],
                ..tiny_config()
            },
            "key `expert_hidden`",
        ),
    ] {
        let mut parts = Parts::read(&path);
        parts.meta.insert("config".into(), config.to_toml().unwrap());
        parts.write(&bad_path);
        for e in [
            checkpoint::read_info(&bad_path).unwrap_err().to_string(),
            load_err(&bad_path),
            resume_err(&bad_path),
        ] {
            assert!(e.contains("bad.safetensors") && e.contains(expect), "{e}");
        }
    }
}

/// Class 3 with a limit: loading refuses a checkpoint whose model (and the file, read whole)
/// would not fit, naming the limit.
#[test]
fn loading_respects_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = trained(dir.path());
    let info = checkpoint::read_info(&path).unwrap();
    let options = |limit| TrainOptions {
        max_memory_bytes: Some(limit),
        batch_size: 64,
        ..TrainOptions::default()
    };
    let e = info.config.memory_estimate(&options(0).optimizer, 64).unwrap();
    let inference = e.inference_bytes() + info.file_bytes;
    let training = e.total_bytes + info.file_bytes;
    assert!(inference < training);
    assert!(Trainer::<f32>::load_for_inference(&path, &options(inference)).is_ok());
    assert!(matches!(
        Trainer::<f32>::load_for_inference(&path, &options(inference - 1)),
        Err(ModelError::TooLarge { needed, .. }) if needed == inference
    ));
    assert!(Trainer::<f32>::resume(&path, &options(training)).is_ok());
    assert!(matches!(
        Trainer::<f32>::resume(&path, &options(training - 1)),
        Err(ModelError::TooLarge { .. })
    ));
}

/// Class 2: a checkpoint without optimiser state (saved by `checkpoint::save` without an
/// optimiser, or rewritten without its `optim.*` entries) loads for inference with the same
/// predictions; resuming from it is refused, saying that the state is missing.
#[test]
fn inference_loads_checkpoints_without_optimiser_state() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut trainer) = trained(dir.path());
    let d = data::<f32>();
    let expected = trainer.predict(&d.input()).unwrap();

    let no_state = dir.path().join("weights.safetensors");
    let extra = BTreeMap::from([("note".to_string(), "weights only".to_string())]);
    checkpoint::save(&no_state, trainer.model().config(), trainer.store(), None, 3, &extra).unwrap();
    let mut stripped = Parts::read(&path);
    stripped.tensors.retain(|t| !t.0.starts_with("optim."));
    stripped.meta.remove("optim.meta");
    let rewritten = dir.path().join("stripped.safetensors");
    stripped.write(&rewritten);

    for file in [&no_state, &rewritten] {
        let info: CheckpointInfo = checkpoint::read_info(file).unwrap();
        assert!(!info.has_optimizer_state);
        let (mut loaded, info) = Trainer::<f32>::load_for_inference(file, &TrainOptions::default()).unwrap();
        assert_eq!(info.step, 3);
        assert_eq!(loaded.steps(), 3);
        assert_eq!(loaded.predict(&d.input()).unwrap(), expected);
        let e = resume_err(file);
        assert!(e.contains("no optimiser state") && e.contains("cannot resume"), "{e}");
        // The lower-level loader with an optimiser says the same.
        let (mut t, _) = Trainer::<f32>::load_for_inference(file, &TrainOptions::default()).unwrap();
        let mut store = t.store().clone();
        let mut opt = t.optimizer_mut().clone();
        let e = checkpoint::load(file, &info.config, &mut store, Some(&mut opt))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no optimiser state"), "{e}");
    }
    // With state, both paths load it; inference ignores the state.
    assert!(checkpoint::read_info(&path).unwrap().has_optimizer_state);
    let (mut loaded, _) = Trainer::<f32>::load_for_inference(&path, &TrainOptions::default()).unwrap();
    assert_eq!(loaded.predict(&d.input()).unwrap(), expected);
    assert_eq!(loaded.optimizer().step_count(), 0);
    let (resumed, _) = Trainer::<f32>::resume(&path, &TrainOptions::default()).unwrap();
    assert_eq!(resumed.optimizer().step_count(), 3);
}

/// A model holding NaN is not written: the previous checkpoint stays as it was.
#[test]
fn non_finite_models_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, trainer) = trained(dir.path());
    let before = std::fs::read(&path).unwrap();
    let mut store = trainer.store().clone();
    let id = store.id("scenario.specific.1.gate.weight").unwrap();
    store.value_mut(id)[[0, 1]] = f32::INFINITY;
    let e = checkpoint::save(
        &path,
        trainer.model().config(),
        &store,
        Some(trainer.optimizer()),
        9,
        &BTreeMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("model.safetensors")
            && e.contains("not written")
            && e.contains("scenario.specific.1.gate.weight holds inf at element 1"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(entries(dir.path()), vec!["model.safetensors".to_string()]);
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Class 4: the temporary file is `.NAME.tmp-PID` beside the target (the command cleans stale
/// ones by that pattern); a write that fails names the checkpoint and leaves no temporary file;
/// a link left at the temporary name is replaced, not followed.
#[test]
fn failed_writes_name_the_checkpoint_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (path, trainer) = trained(dir.path());
    let tmp = checkpoint::temporary_path(&path).unwrap();
    assert_eq!(
        tmp,
        dir.path()
            .join(format!(".model.safetensors.tmp-{}", std::process::id()))
    );

    // The target is a directory: the rename fails; the directory and its content are kept.
    let folder = dir.path().join("folder.safetensors");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("keep"), b"x").unwrap();
    let e = trainer.save(&folder, &BTreeMap::new()).unwrap_err().to_string();
    assert!(
        e.contains("folder.safetensors") && e.contains("cannot write") && e.contains("temporary file was removed"),
        "{e}"
    );
    assert_eq!(std::fs::read(folder.join("keep")).unwrap(), b"x");

    // The folder does not exist: nothing is created.
    let missing = dir.path().join("no-such-folder").join("m.safetensors");
    let e = trainer.save(&missing, &BTreeMap::new()).unwrap_err().to_string();
    assert!(
        e.contains("no-such-folder/m.safetensors") && e.contains("cannot write"),
        "{e}"
    );
    assert_eq!(
        entries(dir.path()),
        vec!["folder.safetensors".to_string(), "model.safetensors".to_string()]
    );

    // A link at the temporary name is removed and a fresh file written; what it pointed to is
    // untouched.
    #[cfg(unix)]
    {
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        trainer.save(&path, &BTreeMap::new()).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!tmp.exists() && std::fs::symlink_metadata(&tmp).is_err());
        assert!(Trainer::<f32>::resume(&path, &TrainOptions::default()).is_ok());
    }
}

/// Paths that are not regular files are refused at once (reading `/dev/zero` would never end).
#[test]
fn non_regular_files_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    for p in [dir.path(), Path::new("/dev/zero"), Path::new("/dev/null")] {
        if !p.exists() {
            println!("skipped {}: absent", p.display());
            continue;
        }
        for e in [checkpoint::read_info(p).unwrap_err().to_string(), load_err(p)] {
            assert!(e.contains("not a regular file"), "{}: {e}", p.display());
        }
    }
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let e = load_err(&empty);
    assert!(e.contains("not a safetensors file") && e.contains("0 bytes"), "{e}");
}

/// A config mismatch is described key by key; values are shortened by characters, so a long
/// value of multi-byte characters cannot make the message panic.
#[test]
fn config_mismatches_with_multibyte_values_are_described() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let config = ModelConfig {
        // `["` then 3-byte characters: byte 60 falls inside one.
        scenarios: vec!["✓".repeat(40), "é".repeat(40), "ü".repeat(40)],
        ..tiny_config()
    };
    let trainer = Trainer::<f32>::new(&config, 1, &TrainOptions::default()).unwrap();
    trainer.save(&path, &BTreeMap::new()).unwrap();
    let mut store = trainer.store().clone();
    let e = checkpoint::load(&path, &tiny_config(), &mut store, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`scenarios` (file: [\"✓✓✓✓") && e.contains("..."), "{e}");
}
