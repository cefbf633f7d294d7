//! Presets for the public real-data samples in the project's shared data folder.
//!
//! Each preset is a schema, its file list and the split its source intends. The facts encoded
//! here (columns, scenario values, vocabulary sizes) come from each folder's `SOURCE.md`;
//! vocabularies of integer ids are the largest id in the sample files plus one (the samples
//! were label-encoded on the full data, whose vocabularies are not published with them).

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::normalize::Normalize;
use crate::reader::{Loaded, ReadOptions, load};
use crate::schema::{DenseColumn, InputFile, LabelRule, Part, Schema, SparseColumn, TaskColumn};
use crate::split::SplitSpec;

/// Names accepted by [`preset`].
pub const PRESET_NAMES: &[&str] = &["ali-ccp-sample", "aliexpress-sample", "movielens-100k"];

/// A ready-made data source: schema, files and the intended split.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// Preset name.
    pub name: String,
    /// The schema.
    pub schema: Schema,
    /// Input files (absolute or relative to the working directory, as `data_dir` was).
    pub files: Vec<InputFile>,
    /// The split the data's source intends.
    pub split: SplitSpec,
}

impl Preset {
    /// Loads all files.
    pub fn load(&self, options: &ReadOptions) -> Result<Loaded, DataError> {
        load(&self.schema, &self.files, options)
    }
}

/// The shared data folder of a source checkout (`<workspace>/../shared/data`), as seen from this
/// crate at build time. Installed binaries should take the folder from the user instead.
pub fn shared_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

/// A preset by name (see [`PRESET_NAMES`]); `data_dir` is the folder holding the sample folders.
pub fn preset(name: &str, data_dir: &Path) -> Result<Preset, DataError> {
    match name {
        "ali-ccp-sample" => Ok(ali_ccp_sample(data_dir)),
        "aliexpress-sample" => Ok(aliexpress_sample(data_dir)),
        "movielens-100k" => Ok(movielens_100k(data_dir)),
        other => Err(DataError::config(format!(
            "unknown preset {other:?}; known: {}",
            PRESET_NAMES.join(", ")
        ))),
    }
}

fn tasks(pairs: &[(&str, &str)]) -> Vec<TaskColumn> {
    pairs
        .iter()
        .map(|(n, c)| TaskColumn {
            name: n.to_string(),
            column: Some(c.to_string()),
        })
        .collect()
}

/// Ali-CCP sample (Scenario-Wise-Rec copy): 3 scenarios by field `301` (ad position 1/2/3),
/// tasks ctr = `click`, ctcvr = `purchase`; 22 sparse fields, 8 dense in [0, 1];
/// files train (100 rows), val (50), test (50), split by file.
pub fn ali_ccp_sample(data_dir: &Path) -> Preset {
    let dir = data_dir.join("ali-ccp-sample");
    // (column, largest id in the three sample files + 1)
    let sparse: &[(&str, usize)] = &[
        ("101", 2),
        ("121", 2),
        ("122", 2),
        ("124", 2),
        ("125", 2),
        ("126", 1),
        ("127", 2),
        ("128", 2),
        ("129", 2),
        ("205", 120),
        ("206", 55),
        ("207", 140),
        ("210", 158),
        ("216", 82),
        ("508", 34),
        ("509", 23),
        ("702", 24),
        ("853", 27),
        ("109_14", 2),
        ("110_14", 2),
        ("127_14", 2),
        ("150_14", 2),
    ];
    let dense = [
        "D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853",
    ];
    let schema = Schema {
        name: "ali-ccp-sample".into(),
        delimiter: None,
        scenarios: vec!["1".into(), "2".into(), "3".into()],
        scenario_column: Some("301".into()),
        tasks: tasks(&[("ctr", "click"), ("ctcvr", "purchase")]),
        labels: LabelRule::Binary,
        sparse: sparse.iter().map(|(c, v)| SparseColumn::ids(*c, *v)).collect(),
        // Already in [0, 1].
        dense: dense.iter().map(|c| DenseColumn::new(*c, Normalize::None)).collect(),
        split_key: Vec::new(),
        oracle_columns: Vec::new(),
        files: Vec::new(),
    };
    let files = vec![
        InputFile::new(dir.join("ali_ccp_train.csv")).with_part(Part::Train),
        InputFile::new(dir.join("ali_ccp_val.csv")).with_part(Part::Valid),
        InputFile::new(dir.join("ali_ccp_test.csv")).with_part(Part::Test),
    ];
    Preset {
        name: "ali-ccp-sample".into(),
        schema,
        files,
        split: SplitSpec::File,
    }
}

/// AliExpress samples: no scenario column exists, so each source is one scenario (SOURCE.md
/// allows "source file as a scenario" for plumbing tests only): `us` = the torch-rechub
/// AliExpress-US files (100 + 20 rows), `fuxictr` = FuxiCTR's tiny_mtl files (100 + 100 rows,
/// country unknown). Tasks ctr = `click`, ctcvr = `conversion`; 16 sparse, 63 dense (already in
/// [0, 1]); `search_id` is not a feature. Split by file: train and test only (validation is
/// empty).
pub fn aliexpress_sample(data_dir: &Path) -> Preset {
    let dir = data_dir.join("aliexpress-sample");
    // Largest id over the four files + 1, for categorical_1..16.
    let vocab = [10, 4, 7, 2, 21, 7, 50, 8, 7, 2, 2, 2, 2, 2, 2, 2];
    let schema = Schema {
        name: "aliexpress-sample".into(),
        delimiter: None,
        scenarios: vec!["us".into(), "fuxictr".into()],
        scenario_column: None,
        tasks: tasks(&[("ctr", "click"), ("ctcvr", "conversion")]),
        labels: LabelRule::Binary,
        sparse: vocab
            .iter()
            .enumerate()
            .map(|(k, v)| SparseColumn::ids(format!("categorical_{}", k + 1), *v))
            .collect(),
        dense: (1..=63)
            .map(|k| DenseColumn::new(format!("numerical_{k}"), Normalize::None))
            .collect(),
        split_key: Vec::new(),
        oracle_columns: Vec::new(),
        files: Vec::new(),
    };
    let file =
        |name: &str, part: Part, scenario: &str| InputFile::new(dir.join(name)).with_part(part).with_scenario(scenario);
    let files = vec![
        file("us_torchrechub_train.csv", Part::Train, "us"),
        file("us_torchrechub_test.csv", Part::Test, "us"),
        file("fuxictr_tiny_mtl_train.csv", Part::Train, "fuxictr"),
        file("fuxictr_tiny_mtl_test.csv", Part::Test, "fuxictr"),
    ];
    Preset {
        name: "aliexpress-sample".into(),
        schema,
        files,
        split: SplitSpec::File,
    }
}

/// MovieLens-100K, derived multi-scenario table: 3 age scenarios (`scenario` 0/1/2), tasks
/// like (rating >= 4) and love (rating = 5); 100,000 rows. Sparse: user and item ids, gender,
/// occupation, zip code, first genre and release year (strings, hashed); dense: age
/// (standardised). `age_bucket`, `timestamp` and `rating` are not features (the labels derive
/// from `rating`). Hash split 80/10/10 by row position with seed 2024 (Scenario-Wise-Rec splits
/// at random; the seed is fixed here).
pub fn movielens_100k(data_dir: &Path) -> Preset {
    let dir = data_dir.join("movielens-100k");
    let schema = Schema {
        name: "movielens-100k".into(),
        delimiter: None,
        scenarios: vec!["0".into(), "1".into(), "2".into()],
        scenario_column: Some("scenario".into()),
        tasks: tasks(&[("like", "like"), ("love", "love")]),
        labels: LabelRule::Binary,
        sparse: vec![
            SparseColumn::ids("user_id", 944),  // ids 1..=943
            SparseColumn::ids("item_id", 1683), // ids 1..=1682
            // Bucket counts chosen so the 2 genders, 21 occupations and 19 genres hash without a
            // collision (checked by tests/presets.rs); the 795 zip codes share some buckets.
            SparseColumn::hashed("gender", 16),
            SparseColumn::hashed("occupation", 256),
            SparseColumn::hashed("zip_code", 4096),
            SparseColumn::hashed("genre", 256),
            // 72 years and one "unkonwn" (sic): 850 is the smallest multiple of 50 without a collision.
            SparseColumn::hashed("release_year", 850),
        ],
        dense: vec![DenseColumn::new("age", Normalize::Standardize)],
        split_key: Vec::new(),
        oracle_columns: Vec::new(),
        files: Vec::new(),
    };
    let files = vec![InputFile::new(dir.join("ml100k_multiscenario.csv"))];
    Preset {
        name: "movielens-100k".into(),
        schema,
        files,
        split: SplitSpec::hash(0.8, 0.1, 0.1, 2024),
    }
}
