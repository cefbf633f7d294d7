//! Presets: ready-made schemas for public multi-scenario datasets, read from a folder the user
//! supplies (`data_dir`, one sub-folder per preset).
//!
//! Each preset is a schema, its file list and the split its source intends. The column layouts,
//! scenario values and file names are those of the public sample files (small excerpts of each
//! dataset, as preprocessed by the repositories named on each preset); the full datasets,
//! preprocessed the same way, have the same files and columns, so a preset reads them too.
//! Vocabularies of integer ids are therefore not written down here but discovered while
//! loading (`vocab = "auto"`: the largest id in the files plus one), so the full data's larger
//! ids fit as well as the samples'.

use std::path::Path;

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

/// A preset by name (see [`PRESET_NAMES`]); `data_dir` is the folder holding the presets'
/// folders (`ali-ccp-sample/`, `aliexpress-sample/`, `movielens-100k/`). Nothing is read here.
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

/// Ali-CCP (Alibaba Click and Conversion Prediction; download from Alibaba Tianchi, dataset 408:
/// <https://tianchi.aliyun.com/dataset/408>), as preprocessed by torch-rechub's
/// `examples/ranking/data/ali-ccp/preprocess_ali_ccp.py` (label-encoded ids, dense values scaled
/// to [0, 1], the Tianchi test set halved into validation and test).
///
/// Reads `data_dir/ali-ccp-sample/ali_ccp_train.csv`, `ali_ccp_val.csv` and `ali_ccp_test.csv`
/// (comma-separated, header line): the public sample (the Scenario-Wise-Rec copy: 100 / 50 / 50
/// rows) or the full files that script writes under the same names. Columns: labels `click`
/// (task ctr) and `purchase` (task ctcvr, on the impression space); scenario `301` (ad position,
/// values 1 / 2 / 3; any other value is a bad row); 22 sparse integer-id fields (`101`,
/// `121`-`129`, `205`-`207`, `210`, `216`, `508`, `509`, `702`, `853`, `109_14`, `110_14`,
/// `127_14`, `150_14`) with vocabularies discovered from the three files; 8 dense columns
/// `D109_14`, `D110_14`, `D127_14`, `D150_14`, `D508`, `D509`, `D702`, `D853` (already in [0, 1],
/// used as they are). Split by file.
pub fn ali_ccp_sample(data_dir: &Path) -> Preset {
    let dir = data_dir.join("ali-ccp-sample");
    let sparse = [
        "101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207", "210", "216", "508", "509",
        "702", "853", "109_14", "110_14", "127_14", "150_14",
    ];
    let dense = [
        "D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853",
    ];
    let schema = Schema {
        name: "ali-ccp-sample".into(),
        delimiter: None,
        scenarios: vec!["1".into(), "2".into(), "3".into()],
        scenario_names: Vec::new(),
        scenario_column: Some("301".into()),
        tasks: tasks(&[("ctr", "click"), ("ctcvr", "purchase")]),
        labels: LabelRule::Binary,
        sparse: sparse.iter().map(|c| SparseColumn::auto_ids(*c)).collect(),
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

/// AliExpress (search logs of five countries; download from Alibaba Tianchi, dataset 74690:
/// <https://tianchi.aliyun.com/dataset/74690>), in the layout MTReclib's `data/preprocess.py`
/// writes: `AliExpress_<country>/train.csv` and `test.csv` per country, 82 columns.
///
/// The data has no scenario column (the country is the scenario and each country is its own
/// files), so each file names its scenario: `us` reads
/// `data_dir/aliexpress-sample/us_torchrechub_train.csv` and `us_torchrechub_test.csv`
/// (AliExpress-US rows, torch-rechub's sample: 100 + 20), `fuxictr` reads
/// `fuxictr_tiny_mtl_train.csv` and `fuxictr_tiny_mtl_test.csv` (FuxiCTR's `tiny_mtl`: 100 + 100
/// rows, country not stated; a scenario for plumbing tests only). Full country files can be
/// put under these names (two countries, shown as `us` and `fuxictr`); for other or more
/// countries write a schema with the same columns and one `[[files]]` entry per file
/// (`docs/data.md`). Columns: `search_id` (not a feature), sparse integer ids `categorical_1` ..
/// `categorical_16` (vocabularies discovered from the four files), dense `numerical_1` ..
/// `numerical_63` (already in [0, 1], used as they are), labels `click` (task ctr) and
/// `conversion` (task ctcvr, on the impression space). Split by file: train and test only
/// (validation is empty unless carved with [`SplitSpec::FileValid`]).
pub fn aliexpress_sample(data_dir: &Path) -> Preset {
    let dir = data_dir.join("aliexpress-sample");
    let schema = Schema {
        name: "aliexpress-sample".into(),
        delimiter: None,
        scenarios: vec!["us".into(), "fuxictr".into()],
        scenario_names: Vec::new(),
        scenario_column: None,
        tasks: tasks(&[("ctr", "click"), ("ctcvr", "conversion")]),
        labels: LabelRule::Binary,
        sparse: (1..=16)
            .map(|k| SparseColumn::auto_ids(format!("categorical_{k}")))
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

/// Scenario names of [`movielens_100k`], for the values `0`, `1`, `2` of its `scenario` column.
pub const MOVIELENS_SCENARIOS: [&str; 3] = ["age<25", "age25-34", "age35+"];

/// MovieLens (download from GroupLens: <https://grouplens.org/datasets/movielens/>; the 100K
/// set is `ml-100k.zip` with `u.data`, `u.user`, `u.item`) as one multi-scenario, multi-task
/// table: every rating joined with its user and movie.
///
/// Reads `data_dir/movielens-100k/ml100k_multiscenario.csv` (comma-separated, header line), a
/// table derived from the three GroupLens files (GroupLens does not allow redistributing
/// them, so the project ships neither them nor the table). Columns read (others are ignored):
/// `user_id`, `item_id` (integer ids; vocabularies discovered, so MovieLens-1M's ids fit too),
/// `gender`, `occupation`, `zip_code` (strings, as in `u.user`), `genre` (the movie's first
/// genre), `release_year` (strings, hashed), `age` (years, standardised), `scenario` (`0` if
/// age < 25, `1` if 25 <= age < 35, `2` if age >= 35; shown as `age<25`, `age25-34`,
/// `age35+`), `like` (rating >= 4) and `love` (rating = 5). 100,000 rows for MovieLens-100K.
/// Hash split 80/10/10 by row position with seed 2024 (Scenario-Wise-Rec splits at random; the
/// seed is fixed here).
pub fn movielens_100k(data_dir: &Path) -> Preset {
    let dir = data_dir.join("movielens-100k");
    let schema = Schema {
        name: "movielens-100k".into(),
        delimiter: None,
        scenarios: vec!["0".into(), "1".into(), "2".into()],
        scenario_names: MOVIELENS_SCENARIOS.iter().map(|s| s.to_string()).collect(),
        scenario_column: Some("scenario".into()),
        tasks: tasks(&[("like", "like"), ("love", "love")]),
        labels: LabelRule::Binary,
        sparse: vec![
            SparseColumn::auto_ids("user_id"),
            SparseColumn::auto_ids("item_id"),
            // Bucket counts chosen so MovieLens-100K's 2 genders, 21 occupations and 19 genres
            // hash without a collision (checked by tests/presets.rs); the 795 zip codes share
            // some buckets.
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
