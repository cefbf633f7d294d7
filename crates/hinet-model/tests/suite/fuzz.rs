//! Property-based robustness (class 6 of the data-safety brief): random and mutated config
//! TOML, random and mutated checkpoint bytes. Every outcome is `Ok` or a typed `ModelError`,
//! never a panic; a config that validates builds, with the parameter count it announced. (The
//! bound on what these inputs may allocate is checked in `tests/allocations.rs`, which counts
//! allocations.)

use crate::checkpoint_safety::Parts;
use crate::common::configs::small_config;
use crate::common::{data, tiny_config};
use hinet_autograd::ParamStore;
use hinet_model::{Model, ModelConfig, ModelError, TrainOptions, Trainer, checkpoint};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Values that probe every limit: zero, negatives, powers of two around 2^62 and 2^64, huge
/// floats, NaN, wrong types, nesting.
fn tricky_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1".to_string()),
        Just("1000000000".to_string()),
        Just("4611686018427387904".to_string()),
        Just("9223372036854775807".to_string()),
        Just("18446744073709551615".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-0.0".to_string()),
        Just("true".to_string()),
        Just("\"hinet\"".to_string()),
        Just("\"é✓\"".to_string()),
        Just("[]".to_string()),
        Just("[0]".to_string()),
        Just("[4611686018427387904, 64]".to_string()),
        Just("[1000000000]".to_string()),
        Just("[[1]]".to_string()),
        Just("{}".to_string()),
        Just("[\"a\", \"b\", \"c\"]".to_string()),
        Just("[{ name = \"u\", vocab = 1000000000, dim = 16 }]".to_string()),
        Just("[{ name = \"u\", vocab = 18446744073709551615, dim = 18446744073709551615 }]".to_string()),
        (0u64..u64::MAX).prop_map(|v| v.to_string()),
        (0usize..6).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
    ]
}

const KEYS: [&str; 32] = [
    "architecture",
    "scenarios",
    "tasks",
    "sparse",
    "dense",
    "input_batch_norm",
    "scenario_embedding_dim",
    "sub_experts",
    "expert_hidden",
    "san",
    "san_hidden",
    "san_renormalise",
    "hierarchy",
    "gates",
    "gate_relu",
    "cgc_shared_experts",
    "cgc_experts_per_task",
    "cgc_hidden",
    "cgc_levels",
    "cgc_shared_across_scenarios",
    "cgc_sum_gate",
    "tower_hidden",
    "dropout",
    "loss_weights",
    "pos_weights",
    "l2",
    "esmm",
    "bottom_hidden",
    "mmoe_experts",
    "unknown_key",
    "sparse.vocab",
    "\"quoted key\"",
];

/// What a config must satisfy whatever text it came from: parsing, validation, counting and
/// estimating return `Ok` or a typed error; a config that validates and is small builds, with
/// the count it announced.
fn check_config_text(text: &str) -> Result<(), TestCaseError> {
    let Ok(config) = ModelConfig::from_toml(text) else {
        return Ok(());
    };
    prop_assert!(config.validate().is_ok());
    let count = match config.parameter_count() {
        Ok(n) => n,
        Err(ModelError::Config { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("untyped size error: {e}"))),
    };
    let estimate = config.memory_estimate(&hinet_optim::OptimizerKind::adam(), 64);
    prop_assert!(
        matches!(estimate, Ok(_) | Err(ModelError::Config { .. })),
        "{estimate:?}"
    );
    // A round trip through TOML keeps the config.
    let again = ModelConfig::from_toml(&config.to_toml().unwrap()).unwrap();
    prop_assert_eq!(&again, &config);
    // With a limit, even a huge config is refused before allocating; a small one builds.
    let options = TrainOptions {
        max_memory_bytes: Some(64 << 20),
        batch_size: 64,
        ..TrainOptions::default()
    };
    match Trainer::<f32>::new(&config, 0, &options) {
        Ok(trainer) => {
            let built: u64 = trainer
                .store()
                .ids()
                .map(|id| trainer.store().value(id).len() as u64)
                .sum();
            prop_assert_eq!(built, count);
        }
        Err(ModelError::TooLarge { .. } | ModelError::Config { .. } | ModelError::Optim(_)) => {}
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
    }
    if count < 100_000 {
        let mut store = ParamStore::<f32>::new();
        prop_assert!(
            Model::new(&config, &mut store, 1).is_ok(),
            "a valid small config must build"
        );
    }
    Ok(())
}

/// Edits of a TOML text: replace a value, delete, duplicate or truncate a line, flip or insert
/// a byte.
#[derive(Debug, Clone)]
enum Edit {
    SetKey(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (0..KEYS.len(), tricky_value()).prop_map(|(k, v)| Edit::SetKey(k, v)),
        1 => any::<usize>().prop_map(Edit::DeleteLine),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

fn apply_text(text: &str, e: &Edit) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let pick = |i: usize| if lines.is_empty() { 0 } else { i % lines.len() };
    match e {
        Edit::SetKey(k, v) => {
            let key = KEYS[*k];
            let mut out: Vec<String> = lines
                .iter()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(|l| l.to_string())
                .collect();
            // Top-level keys go before the first table header.
            let at = out.iter().position(|l| l.starts_with('[')).unwrap_or(out.len());
            out.insert(at, format!("{key} = {v}"));
            out.join("\n")
        }
        Edit::DeleteLine(i) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                l.remove(pick(*i));
            }
            l.join("\n")
        }
        Edit::DuplicateLine(i) => {
            let mut l = lines.clone();
            if !l.is_empty() {
                let x = l[pick(*i)];
                l.insert(pick(*i), x);
            }
            l.join("\n")
        }
        Edit::Truncate(i) => {
            let b = text.as_bytes();
            String::from_utf8_lossy(&b[..i % (b.len() + 1)]).into_owned()
        }
        Edit::Flip(i, x) => {
            let mut b = text.as_bytes().to_vec();
            if !b.is_empty() {
                let n = b.len();
                b[i % n] ^= x | 1;
            }
            String::from_utf8_lossy(&b).into_owned()
        }
        Edit::Insert(i, x) => {
            let mut b = text.as_bytes().to_vec();
            b.insert(i % (b.len() + 1), *x);
            String::from_utf8_lossy(&b).into_owned()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random `key = value` lines over the config's keys (and some that are not).
    #[test]
    fn random_config_toml_never_panics(lines in prop::collection::vec((0..KEYS.len(), tricky_value()), 0..12)) {
        let text: String = lines.iter().map(|(k, v)| format!("{} = {v}\n", KEYS[*k])).collect();
        check_config_text(&text)?;
    }

    /// Real configs of every architecture, edited one to four times.
    #[test]
    fn mutated_config_toml_never_panics(config in small_config(), edits in prop::collection::vec(edit(), 1..5)) {
        let mut text = config.to_toml().unwrap();
        check_config_text(&text)?;
        for e in &edits {
            text = apply_text(&text, e);
        }
        check_config_text(&text)?;
    }

    /// Arbitrary bytes as text.
    #[test]
    fn arbitrary_text_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_config_text(&String::from_utf8_lossy(&bytes))?;
    }
}

/// A real small checkpoint (input batch norm, Adam state after 2 steps), saved once.
fn checkpoint_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.safetensors");
        let mut trainer = Trainer::<f32>::new(
            &ModelConfig {
                input_batch_norm: true,
                ..tiny_config()
            },
            3,
            &TrainOptions::default(),
        )
        .unwrap();
        let d = data::<f32>();
        for _ in 0..2 {
            trainer.step(&d.input()).unwrap();
        }
        trainer
            .save(&path, &BTreeMap::from([("note".to_string(), "seed".to_string())]))
            .unwrap();
        std::fs::read(&path).unwrap()
    })
}

/// Every loader on `bytes`: `Ok` or a typed error, never a panic. What loads is usable.
fn check_checkpoint(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join("case.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let typed = |e: &ModelError| {
        matches!(
            e,
            ModelError::Checkpoint { .. }
                | ModelError::Config { .. }
                | ModelError::Parse(_)
                | ModelError::TooLarge { .. }
        )
    };
    if let Err(e) = checkpoint::read_info(&path) {
        prop_assert!(typed(&e), "read_info: {e:?}");
    }
    let d = data::<f32>();
    match Trainer::<f32>::load_for_inference(&path, &TrainOptions::default()) {
        Ok((mut trainer, _)) => {
            // The stored config may differ from the test data's shape; any answer is typed.
            if let Err(e) = trainer.predict(&d.input()) {
                prop_assert!(
                    matches!(
                        e,
                        ModelError::Input(_) | ModelError::Layer(_) | ModelError::NonFinitePredictions(_)
                    ),
                    "predict: {e:?}"
                );
            }
        }
        Err(e) => prop_assert!(typed(&e), "load_for_inference: {e:?}"),
    }
    match Trainer::<f32>::resume(&path, &TrainOptions::default()) {
        Ok((mut trainer, _)) => {
            if let Err(e) = trainer.step(&d.input()) {
                prop_assert!(
                    matches!(
                        e,
                        ModelError::Input(_)
                            | ModelError::Layer(_)
                            | ModelError::NonFiniteLoss(_)
                            | ModelError::Optim(_)
                    ),
                    "step: {e:?}"
                );
            }
        }
        Err(e) => prop_assert!(typed(&e), "resume: {e:?}"),
    }
    Ok(())
}

/// Byte-level damage anywhere in the file.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    HeaderLength(u64),
    /// An edit inside the JSON header only (keeping its length).
    HeaderByte(usize, u8),
    /// A number in the JSON header (shape or offset) replaced by another of the same width.
    HeaderDigits(usize, u64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, x)| Damage::Flip(i, x)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Damage::Insert(i, b)),
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            Just(100_000_001),
            any::<u64>(),
            0u64..20_000
        ]
        .prop_map(Damage::HeaderLength),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::HeaderByte(i, b)),
        (any::<usize>(), any::<u64>()).prop_map(|(i, v)| Damage::HeaderDigits(i, v)),
    ]
}

fn apply_damage(bytes: &mut Vec<u8>, d: &Damage) {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = 8..(8 + header_len).min(bytes.len());
    match d {
        Damage::Flip(i, x) => {
            let n = bytes.len();
            bytes[i % n] ^= x;
        }
        Damage::Truncate(i) => bytes.truncate(i % bytes.len()),
        Damage::Insert(i, b) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Damage::HeaderLength(n) => bytes[..8].copy_from_slice(&n.to_le_bytes()),
        Damage::HeaderByte(i, b) if !header.is_empty() => {
            bytes[header.start + i % header.len()] = *b;
        }
        Damage::HeaderDigits(i, v) if !header.is_empty() => {
            // The i-th run of digits in the header, overwritten right-aligned (same length).
            let h = &bytes[header.clone()];
            let runs: Vec<(usize, usize)> = h
                .iter()
                .enumerate()
                .filter(|&(k, c)| c.is_ascii_digit() && (k == 0 || !h[k - 1].is_ascii_digit()))
                .map(|(k, _)| (k, h[k..].iter().take_while(|c| c.is_ascii_digit()).count()))
                .collect();
            if let Some(&(start, len)) = runs.get(i % runs.len().max(1)) {
                let s = v.to_string();
                let s = &s[s.len().saturating_sub(len)..];
                let at = header.start + start + len - s.len();
                bytes[at..at + s.len()].copy_from_slice(s.as_bytes());
            }
        }
        _ => {}
    }
}

/// Edits of what the file means rather than its bytes: the stored config, `optim.meta`, the
/// format version, a tensor's shape or dtype.
#[derive(Debug, Clone)]
enum Semantic {
    Config(Vec<Edit>),
    OptimMeta(String),
    Version(String),
    Step(String),
    Shape(usize, Vec<usize>),
    Dtype(usize, usize),
    Drop(usize),
}

fn semantic() -> impl Strategy<Value = Semantic> {
    prop_oneof![
        3 => prop::collection::vec(edit(), 1..4).prop_map(Semantic::Config),
        1 => prop_oneof![
            Just("{}".to_string()),
            Just("not json".to_string()),
            Just("{\"optimizer\":\"adam\",\"step\":\"18446744073709551615\"}".to_string()),
            Just("{\"optimizer\":\"sgd\",\"step\":\"1\"}".to_string()),
            Just("{\"optimizer\":\"adam\",\"step\":\"-1\"}".to_string()),
            "[a-z{}\":, 0-9]{0,40}",
        ].prop_map(Semantic::OptimMeta),
        1 => prop_oneof![Just("2".to_string()), Just("".to_string()), Just("1 ".to_string())].prop_map(Semantic::Version),
        1 => prop_oneof![Just("-1".to_string()), Just("18446744073709551616".to_string()), Just("x".to_string()), Just("18446744073709551615".to_string())].prop_map(Semantic::Step),
        1 => (any::<usize>(), prop::collection::vec(0usize..6, 0..4)).prop_map(|(i, s)| Semantic::Shape(i, s)),
        1 => (any::<usize>(), 0usize..6).prop_map(|(i, d)| Semantic::Dtype(i, d)),
        1 => any::<usize>().prop_map(Semantic::Drop),
    ]
}

fn apply_semantic(parts: &mut Parts, s: &Semantic) {
    use safetensors::tensor::Dtype;
    let n = parts.tensors.len();
    match s {
        Semantic::Config(edits) => {
            let mut text = parts.meta["config"].clone();
            for e in edits {
                text = apply_text(&text, e);
            }
            parts.meta.insert("config".into(), text);
        }
        Semantic::OptimMeta(m) => {
            parts.meta.insert("optim.meta".into(), m.clone());
        }
        Semantic::Version(v) => {
            parts.meta.insert("format_version".into(), v.clone());
        }
        Semantic::Step(v) => {
            parts.meta.insert("step".into(), v.clone());
        }
        Semantic::Shape(i, shape) => {
            // Keep the byte count consistent so safetensors accepts the header: data resized.
            let t = &mut parts.tensors[i % n];
            let elems: usize = shape.iter().product();
            t.2 = shape.clone();
            t.3.resize(elems * t.1.bitsize() / 8, 0);
        }
        Semantic::Dtype(i, d) => {
            let dtype = [Dtype::F16, Dtype::BF16, Dtype::F64, Dtype::I32, Dtype::U8, Dtype::F32][*d];
            let t = &mut parts.tensors[i % n];
            let elems: usize = t.2.iter().product();
            t.1 = dtype;
            t.3.resize(elems * dtype.bitsize() / 8, 0x7f);
        }
        Semantic::Drop(i) => {
            parts.tensors.remove(i % n);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// A real checkpoint damaged one to three times at the byte level.
    #[test]
    fn damaged_checkpoint_bytes_never_panic(damages in prop::collection::vec(damage(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = checkpoint_bytes().to_vec();
        for d in &damages {
            if bytes.len() >= 8 {
                apply_damage(&mut bytes, d);
            }
        }
        check_checkpoint(dir.path(), &bytes)?;
    }

    /// A real checkpoint whose config, metadata or tensors were rewritten (a valid safetensors
    /// file that lies about the model).
    #[test]
    fn rewritten_checkpoints_never_panic(edits in prop::collection::vec(semantic(), 1..3)) {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed.safetensors");
        std::fs::write(&seed, checkpoint_bytes()).unwrap();
        let mut parts = Parts::read(&seed);
        for e in &edits {
            apply_semantic(&mut parts, e);
        }
        check_checkpoint(dir.path(), &parts.bytes())?;
    }

    /// Random bytes, with and without a plausible header length.
    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..300), small in any::<bool>()) {
        if small && bytes.len() >= 8 {
            let n = (bytes.len() as u64 - 8).min(u64::from(bytes[0]));
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        let dir = tempfile::tempdir().unwrap();
        check_checkpoint(dir.path(), &bytes)?;
    }
}

/// The undamaged seed loads both ways (the properties above start from a good file).
#[test]
fn the_seed_checkpoint_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.safetensors");
    std::fs::write(&path, checkpoint_bytes()).unwrap();
    assert!(Trainer::<f32>::load_for_inference(&path, &TrainOptions::default()).is_ok());
    assert!(Trainer::<f32>::resume(&path, &TrainOptions::default()).is_ok());
}
