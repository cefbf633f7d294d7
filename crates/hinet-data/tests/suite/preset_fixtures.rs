//! The presets on generated files: the same folder layout, file names, headers and formats as
//! the public data, with invented rows whose counts, scenarios, labels and ids the tests know.
//! Everything `presets.rs` checks on the real samples is checked here without them, plus what
//! the full datasets need (ids far beyond the samples', fixed vocabularies for evaluation).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hinet_data::hash::hash_bucket;
use hinet_data::{BadRowKind, DataError, Dataset, InputFile, ReadOptions, SplitSpec, load, presets, stream};

/// Writes `body` to `dir/rel`, creating the folder.
fn write(dir: &Path, rel: &str, body: &str) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

fn positives(ds: &Dataset, t: usize) -> usize {
    let n = ds.spec.tasks.len();
    ds.labels.iter().skip(t).step_by(n).filter(|y| **y > 0.5).count()
}

/// Column `name` of every row, as ids.
fn sparse_col(d: &Dataset, name: &str) -> Vec<u32> {
    let k = d.spec.sparse.iter().position(|f| f.name == name).unwrap();
    let f = d.spec.sparse.len();
    d.sparse.iter().skip(k).step_by(f).copied().collect()
}

// ---------------------------------------------------------------- Ali-CCP

/// The header of the Ali-CCP files (torch-rechub's preprocessing; the public sample's layout).
const ALI_CCP_HEADER: &str = "click,purchase,101,121,122,124,125,126,127,128,129,205,206,207,210,216,508,509,702,853,\
301,109_14,110_14,127_14,150_14,D109_14,D110_14,D127_14,D150_14,D508,D509,D702,D853";

/// One invented Ali-CCP row: user-side fields constant (as in the sample), item-side ids from
/// `item`, position `pos` (the scenario).
fn ali_ccp_row(click: u8, purchase: u8, pos: u32, item: u32) -> String {
    let user = "1,1,1,1,1,0,1,1,1"; // 101, 121..129 (126 always 0)
    let items = format!("{item},{},{},{},{}", item % 40, item * 2, item + 3, item % 17);
    let cross = format!("{},{},{},{}", item % 5, item % 3, item % 7, item % 11);
    let hist = "1,1,1,1";
    let dense = format!("0.4734,0.562,0.0856,0.1902,{},0,0.25,0", f64::from(item % 10) / 10.0);
    format!("{click},{purchase},{user},{items},{cross},{pos},{hist},{dense}")
}

/// Writes the three files; returns the data folder. Train: positions 1,1,1,2,2,3 (clicks on
/// rows 0 and 3, a purchase on row 0); val: 1,2,2,3 (one click); test: 3,3,1,2,1 (clicks on rows
/// 0 and 2, purchase on row 0), with the largest item id (90) in the test file and no newline
/// after its last row (as in the public files).
fn ali_ccp_fixture(dir: &Path) {
    let file = |rows: &[(u8, u8, u32, u32)], trailing_newline: bool| {
        let mut s = format!("{ALI_CCP_HEADER}\n");
        let body: Vec<String> = rows.iter().map(|&(c, p, pos, it)| ali_ccp_row(c, p, pos, it)).collect();
        s += &body.join("\n");
        if trailing_newline {
            s.push('\n');
        }
        s
    };
    let train = [
        (1, 1, 1, 0),
        (0, 0, 1, 1),
        (0, 0, 1, 2),
        (1, 0, 2, 3),
        (0, 0, 2, 4),
        (0, 0, 3, 5),
    ];
    let val = [(0, 0, 1, 10), (1, 0, 2, 11), (0, 0, 2, 12), (0, 0, 3, 13)];
    let test = [
        (1, 1, 3, 90),
        (0, 0, 3, 21),
        (1, 0, 1, 22),
        (0, 0, 2, 23),
        (0, 0, 1, 24),
    ];
    write(dir, "ali-ccp-sample/ali_ccp_train.csv", &file(&train, true));
    write(dir, "ali-ccp-sample/ali_ccp_val.csv", &file(&val, true));
    write(dir, "ali-ccp-sample/ali_ccp_test.csv", &file(&test, false));
}

#[test]
fn ali_ccp_on_generated_files() {
    let tmp = tempfile::tempdir().unwrap();
    ali_ccp_fixture(tmp.path());
    let p = presets::ali_ccp_sample(tmp.path());
    assert_eq!(p.split, SplitSpec::File);
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 15);
    assert_eq!(d.spec.scenarios, vec!["1", "2", "3"]);
    assert_eq!(d.spec.tasks, vec!["ctr", "ctcvr"]);
    let header: Vec<&str> = ALI_CCP_HEADER.split(',').collect();
    let sparse: Vec<&str> = d.spec.sparse.iter().map(|f| f.name.as_str()).collect();
    // Every id column of the header except the scenario, in header order.
    let want: Vec<&str> = header[2..25].iter().copied().filter(|c| *c != "301").collect();
    assert_eq!(sparse, want);
    assert_eq!(d.spec.dense, header[25..].to_vec());
    let s = d.split(&p.split).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (6, 4, 5));
    assert_eq!(s.train.scenario_counts(), vec![3, 2, 1]);
    assert_eq!(s.valid.scenario_counts(), vec![1, 2, 1]);
    assert_eq!(s.test.scenario_counts(), vec![2, 1, 2]);
    assert_eq!((positives(&s.train, 0), positives(&s.train, 1)), (2, 1));
    assert_eq!((positives(&s.valid, 0), positives(&s.valid, 1)), (1, 0));
    assert_eq!((positives(&s.test, 0), positives(&s.test, 1)), (2, 1));
    // Vocabularies span all three files: item id 90 is only in the test file.
    let vocab: HashMap<&str, usize> = d.spec.sparse.iter().map(|f| (f.name.as_str(), f.vocab)).collect();
    assert_eq!(vocab["205"], 91);
    assert_eq!(vocab["207"], 181); // item * 2
    assert_eq!(vocab["126"], 1); // always 0
    assert_eq!(vocab["101"], 2); // always 1
    assert_eq!(sparse_col(&d, "205")[10], 90); // first test row
    // Dense values as written (D508 = (item % 10) / 10, D702 = 0.25).
    let nd = d.spec.dense.len();
    assert_eq!(d.dense[3 * nd + 4], 0.3);
    assert_eq!(d.dense[3 * nd + 6], 0.25);
    d.validate().unwrap();
}

#[test]
fn ali_ccp_position_outside_1_to_3_is_a_located_error() {
    let tmp = tempfile::tempdir().unwrap();
    ali_ccp_fixture(tmp.path());
    let body = format!(
        "{ALI_CCP_HEADER}\n{}\n{}\n",
        ali_ccp_row(0, 0, 1, 1),
        ali_ccp_row(0, 0, 4, 2)
    );
    let val = write(tmp.path(), "ali-ccp-sample/ali_ccp_val.csv", &body);
    let e = presets::ali_ccp_sample(tmp.path())
        .load(&ReadOptions::default())
        .unwrap_err();
    assert_eq!(e.row_kind(), Some(BadRowKind::UnknownScenario));
    assert_eq!(
        e.to_string(),
        format!(
            r#"{}:3: column "301": scenario "4" is not one of the schema's scenarios ["1", "2", "3"]"#,
            val.display()
        )
    );
}

#[test]
fn a_missing_preset_file_is_an_io_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let e = presets::ali_ccp_sample(tmp.path())
        .load(&ReadOptions::default())
        .unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    let want = tmp.path().join("ali-ccp-sample/ali_ccp_train.csv");
    assert!(e.to_string().starts_with(&want.display().to_string()), "{e}");
}

// ---------------------------------------------------------------- AliExpress

fn aliexpress_header() -> String {
    let mut h = String::from("search_id");
    for k in 1..=16 {
        write!(h, ",categorical_{k}").unwrap();
    }
    for k in 1..=63 {
        write!(h, ",numerical_{k}").unwrap();
    }
    h + ",click,conversion"
}

/// One invented row: categorical_k = (seed + k) % 5, except categorical_7 = `c7`; numerical_k =
/// k / 100; `search_id` far beyond any vocabulary (it is not a feature).
fn aliexpress_row(seed: u32, c7: u32, click: u8, conversion: u8) -> String {
    let mut r = format!("{}", 90_000_000_000u64 + u64::from(seed));
    for k in 1..=16u32 {
        let v = if k == 7 { c7 } else { (seed + k) % 5 };
        write!(r, ",{v}").unwrap();
    }
    for k in 1..=63 {
        write!(r, ",{}", f64::from(k) / 100.0).unwrap();
    }
    write!(r, ",{click},{conversion}").unwrap();
    r
}

/// `(clicks, conversions)` among `rows` rows: the first `clicks` rows are clicked, the first
/// `conversions` of those converted.
fn aliexpress_file(rows: u32, clicks: u32, conversions: u32, c7_max: u32) -> String {
    let mut s = aliexpress_header() + "\n";
    for r in 0..rows {
        let c7 = if r == rows - 1 { c7_max } else { r % 3 };
        let row = aliexpress_row(r, c7, u8::from(r < clicks), u8::from(r < conversions));
        s += &row;
        s.push('\n');
    }
    s
}

fn aliexpress_fixture(dir: &Path) {
    write(
        dir,
        "aliexpress-sample/us_torchrechub_train.csv",
        &aliexpress_file(10, 6, 1, 9),
    );
    write(
        dir,
        "aliexpress-sample/us_torchrechub_test.csv",
        &aliexpress_file(4, 2, 1, 9),
    );
    write(
        dir,
        "aliexpress-sample/fuxictr_tiny_mtl_train.csv",
        &aliexpress_file(8, 1, 0, 12),
    );
    write(
        dir,
        "aliexpress-sample/fuxictr_tiny_mtl_test.csv",
        &aliexpress_file(5, 1, 1, 49),
    );
}

#[test]
fn aliexpress_on_generated_files() {
    let tmp = tempfile::tempdir().unwrap();
    aliexpress_fixture(tmp.path());
    let p = presets::aliexpress_sample(tmp.path());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 27);
    assert_eq!(d.spec.scenarios, vec!["us", "fuxictr"]);
    assert_eq!(d.spec.tasks, vec!["ctr", "ctcvr"]);
    assert_eq!((d.spec.sparse.len(), d.spec.dense.len()), (16, 63));
    assert_eq!(d.spec.sparse[0].name, "categorical_1");
    assert_eq!(d.spec.dense[62], "numerical_63");
    // Each file's rows get the file's scenario.
    assert_eq!(d.scenario_counts(), vec![14, 13]);
    assert_eq!(&d.scenario[..14], &[0; 14]);
    assert_eq!(&d.scenario[14..], &[1; 13]);
    let s = d.split(&p.split).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (18, 0, 9));
    assert_eq!(s.train.scenario_counts(), vec![10, 8]);
    assert_eq!(s.test.scenario_counts(), vec![4, 5]);
    assert!((s.train.label_rate(0, Some(0)).unwrap() - 0.6).abs() < 1e-12);
    assert!((s.train.label_rate(0, Some(1)).unwrap() - 0.125).abs() < 1e-12);
    assert!((s.test.label_rate(1, Some(1)).unwrap() - 0.2).abs() < 1e-12);
    assert!(d.labels.chunks_exact(2).all(|y| y[1] <= y[0]));
    // categorical_7's largest id (49) is in the last file; the others stay below 5.
    assert_eq!(d.spec.sparse[6].vocab, 50);
    assert!(d.spec.sparse.iter().enumerate().all(|(k, f)| k == 6 || f.vocab == 5));
    assert_eq!(d.dense[..3], [0.01, 0.02, 0.03]);
    d.validate().unwrap();
}

#[test]
fn aliexpress_validation_carved_from_training_files() {
    let tmp = tempfile::tempdir().unwrap();
    // Enough training rows for the fraction to mean something.
    write(
        tmp.path(),
        "aliexpress-sample/us_torchrechub_train.csv",
        &aliexpress_file(3000, 300, 10, 9),
    );
    write(
        tmp.path(),
        "aliexpress-sample/us_torchrechub_test.csv",
        &aliexpress_file(40, 2, 1, 9),
    );
    write(
        tmp.path(),
        "aliexpress-sample/fuxictr_tiny_mtl_train.csv",
        &aliexpress_file(2000, 20, 0, 12),
    );
    write(
        tmp.path(),
        "aliexpress-sample/fuxictr_tiny_mtl_test.csv",
        &aliexpress_file(50, 1, 1, 49),
    );
    let d = presets::aliexpress_sample(tmp.path())
        .load(&ReadOptions::default())
        .unwrap()
        .data;
    let by_file = d.split_indices(&SplitSpec::File).unwrap();
    let carved = d.split_indices(&SplitSpec::file_valid(0.2, 7)).unwrap();
    assert_eq!(carved[2], by_file[2]); // the test files are untouched
    assert_eq!(carved[0].len() + carved[1].len(), 5000);
    let frac = carved[1].len() as f64 / 5000.0;
    assert!((frac - 0.2).abs() < 0.03, "{frac}");
    assert!(carved[1].iter().all(|r| by_file[0].contains(r)));
}

// ---------------------------------------------------------------- MovieLens

const ML_HEADER: &str =
    "user_id,item_id,gender,occupation,zip_code,genre,release_year,age,age_bucket,timestamp,rating,scenario,like,love";
const OCCUPATIONS: [&str; 5] = ["writer", "executive", "student", "other", "none"];
const ZIPS: [&str; 5] = ["00000", "0", "T8H1N", "55105", "55105 "];
const GENRES: [&str; 4] = ["Comedy", "Crime", "unknown", "Children's"];
const YEARS: [&str; 4] = ["1996", "1997", "unkonwn", "1930"];

/// One rating of the derived table, as the fields the test checks.
struct MlRow {
    user: u64,
    item: u64,
    age: u32,
    rating: u32,
}

impl MlRow {
    fn scenario(&self) -> usize {
        match self.age {
            a if a < 25 => 0,
            a if a < 35 => 1,
            _ => 2,
        }
    }
    fn line(&self) -> String {
        let u = self.user as usize;
        let gender = if u.is_multiple_of(2) { "M" } else { "F" };
        format!(
            "{},{},{gender},{},{},{},{},{},{},{},{},{},{},{}",
            self.user,
            self.item,
            OCCUPATIONS[u % 5],
            ZIPS[u % 5],
            GENRES[self.item as usize % 4],
            YEARS[self.item as usize % 4],
            self.age,
            self.age / 10 * 10, // age_bucket: informational, not read
            880_000_000 + self.item,
            self.rating,
            self.scenario(),
            u8::from(self.rating >= 4),
            u8::from(self.rating == 5)
        )
    }
}

/// `n` invented ratings: users `1..=users` (the last row has user `max_user`), ages 15..64 per
/// user, ratings cycling through 1..=5.
fn ml_rows(n: u64, users: u64, max_user: u64) -> Vec<MlRow> {
    (0..n)
        .map(|r| {
            let user = if r == n - 1 { max_user } else { 1 + (r * 7919) % users };
            MlRow {
                user,
                item: 1 + (r * 104_729) % 300,
                age: 15 + ((user * 13) % 50) as u32,
                rating: 1 + ((r * 3 + user) % 5) as u32,
            }
        })
        .collect()
}

fn ml_file(rows: &[MlRow]) -> String {
    let mut s = format!("{ML_HEADER}\n");
    for r in rows {
        s += &r.line();
        s.push('\n');
    }
    s
}

#[test]
fn movielens_on_generated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = ml_rows(3000, 200, 200);
    write(tmp.path(), "movielens-100k/ml100k_multiscenario.csv", &ml_file(&rows));
    let p = presets::movielens_100k(tmp.path());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 3000);
    // Scenario values 0/1/2 carry the age-group names.
    assert_eq!(d.spec.scenarios, vec!["age<25", "age25-34", "age35+"]);
    let mut counts = vec![0; 3];
    for r in &rows {
        counts[r.scenario()] += 1;
    }
    assert_eq!(d.scenario_counts(), counts);
    assert!(counts.iter().all(|&c| c > 300), "{counts:?}"); // the fixture covers all groups
    // Labels as the file says: like = rating >= 4, love = rating = 5.
    let like = rows.iter().filter(|r| r.rating >= 4).count();
    let love = rows.iter().filter(|r| r.rating == 5).count();
    assert_eq!((positives(&d, 0), positives(&d, 1)), (like, love));
    assert_eq!(d.spec.tasks, vec!["like", "love"]);
    // Integer ids: vocabularies from the data.
    assert_eq!((d.spec.sparse[0].vocab, d.spec.sparse[1].vocab), (201, 301));
    assert_eq!(sparse_col(&d, "user_id")[5], rows[5].user as u32);
    // Strings hashed as written: leading zeros and letters kept, whitespace trimmed.
    let zip = sparse_col(&d, "zip_code");
    let occupation = sparse_col(&d, "occupation");
    for (r, row) in rows.iter().enumerate().take(50) {
        let z = ZIPS[row.user as usize % 5].trim();
        assert_eq!(zip[r], hash_bucket(z.as_bytes(), 4096));
        assert_eq!(
            occupation[r],
            hash_bucket(OCCUPATIONS[row.user as usize % 5].as_bytes(), 256)
        );
    }
    let distinct = |v: &[u32]| v.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(distinct(&zip), 4); // "00000", "0", "T8H1N", "55105" (twice, once with a space)
    assert_eq!(distinct(&sparse_col(&d, "gender")), 2);
    assert_eq!(distinct(&sparse_col(&d, "genre")), 4);
    assert_eq!(distinct(&sparse_col(&d, "release_year")), 4);
    // The preset's hash split: 80/10/10, deterministic; age standardised on train.
    assert_eq!(p.split, SplitSpec::hash(0.8, 0.1, 0.1, 2024));
    let idx = d.split_indices(&p.split).unwrap();
    assert_eq!(idx, d.split_indices(&p.split).unwrap());
    for (part, want) in idx.iter().zip([0.8, 0.1, 0.1]) {
        assert!((part.len() as f64 / 3000.0 - want).abs() < 0.03, "{}", part.len());
    }
    let mut s = d.split(&p.split).unwrap();
    s.normalize().unwrap();
    let n = s.train.len() as f64;
    let mean = s.train.dense.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = s
        .train
        .dense
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{mean} {var}");
    d.validate().unwrap();
}

#[test]
fn full_size_ids_get_a_vocabulary_from_the_data_and_a_trained_one_stays_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    // Users up to 5,000,000: far beyond any sample, as a full dataset has them.
    let rows = ml_rows(2000, 4_000_000, 5_000_000);
    write(tmp.path(), "movielens-100k/ml100k_multiscenario.csv", &ml_file(&rows));
    let p = presets::movielens_100k(tmp.path());
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.spec.sparse[0].vocab, 5_000_001);
    assert_eq!(sparse_col(&d, "user_id")[1999], 5_000_000);
    d.validate().unwrap();

    // A model trained on `d` keeps its tables for other files: ids within them read, an id
    // beyond them is a bad row naming file, line and column.
    let mut schema = p.schema.clone();
    let trained: Vec<(String, usize)> = d.spec.sparse.iter().map(|f| (f.name.clone(), f.vocab)).collect();
    schema
        .fix_auto_vocab(trained.iter().map(|(n, v)| (n.as_str(), *v)))
        .unwrap();
    assert!(!schema.has_auto_vocab());
    let mut other = ml_rows(20, 1000, 4_999_999);
    let ok = write(tmp.path(), "other.csv", &ml_file(&other));
    let e = load(&schema, &[InputFile::new(&ok)], &ReadOptions::default()).unwrap();
    assert_eq!(e.data.spec, d.spec);
    other[7].user = 5_000_001;
    let bad = write(tmp.path(), "bad.csv", &ml_file(&other));
    let e = load(&schema, &[InputFile::new(&bad)], &ReadOptions::default()).unwrap_err();
    assert_eq!(e.row_kind(), Some(BadRowKind::IdOutOfVocab));
    assert_eq!(
        e.to_string(),
        format!(
            r#"{}:9: column "user_id": id 5000001 is outside the vocabulary (vocab = 5000001, ids 0..=5000000)"#,
            bad.display()
        )
    );
    // Streaming (what scoring uses) needs the fixed sizes; with them it reads chunk by chunk.
    let mut it = stream(&p.schema, &[InputFile::new(&ok)], &ReadOptions::default());
    let e = it.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("fix_auto_vocab"), "{e}");
    let rows_streamed: usize = stream(&schema, &[InputFile::new(&ok)], &ReadOptions::default())
        .map(|c| c.unwrap().len())
        .sum();
    assert_eq!(rows_streamed, 20);
}

#[test]
fn automatic_vocabularies_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = presets::movielens_100k(tmp.path()).schema;
    let read_with_user = |user: &str, skip: bool| {
        let mut rows = ml_rows(3, 10, 10);
        rows[2].user = 3;
        let body = ml_file(&rows);
        // Replace the second row's user id by the raw text (it may not fit in a u64).
        let mut lines: Vec<String> = body.lines().map(String::from).collect();
        let rest = lines[2].split_once(',').unwrap().1.to_string();
        lines[2] = format!("{user},{rest}");
        let p = write(tmp.path(), "ids.csv", &(lines.join("\n") + "\n"));
        (
            p.clone(),
            load(&schema, &[InputFile::new(&p)], &ReadOptions::skipping(skip)),
        )
    };
    // The largest table an automatic vocabulary may reach.
    let limit = hinet_data::MAX_AUTO_VOCAB;
    let (_, l) = read_with_user(&(limit - 1).to_string(), false);
    assert_eq!(l.unwrap().data.spec.sparse[0].vocab, limit);
    // One beyond: a located error that says what to do.
    let (p, l) = read_with_user(&limit.to_string(), false);
    let e = l.unwrap_err();
    assert_eq!(e.row_kind(), Some(BadRowKind::IdOutOfVocab));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(r#"{}:3: column "user_id": id {limit}"#, p.display())),
        "{msg}"
    );
    assert!(
        msg.contains("explicit `vocab`") && msg.contains("hash_buckets"),
        "{msg}"
    );
    // Beyond 32 bits, and beyond 64.
    let (_, l) = read_with_user("4294967295", false);
    assert!(l.unwrap_err().to_string().contains("does not fit in 32 bits"));
    let (_, l) = read_with_user("99999999999999999999999", false);
    assert_eq!(l.unwrap_err().row_kind(), Some(BadRowKind::BadId));
    // A skipped bad row does not grow the vocabulary.
    let (_, l) = read_with_user("100000000000", true);
    let l = l.unwrap();
    assert_eq!(l.report.rows_skipped, 1);
    assert_eq!(l.data.spec.sparse[0].vocab, 4); // users of the other rows: ml_rows' 1st is 1, 3rd is 3
}

#[test]
fn fixing_vocabularies_needs_every_auto_field() {
    let mut schema = presets::movielens_100k(Path::new("x")).schema;
    let e = schema.fix_auto_vocab([("user_id", 10)]).unwrap_err();
    assert!(e.to_string().contains("\"item_id\""), "{e}");
    let e = schema.fix_auto_vocab([("user_id", 10), ("item_id", 0)]).unwrap_err();
    assert!(e.to_string().contains("not in 1..=2^32-1"), "{e}");
    schema.fix_auto_vocab([("user_id", 10), ("item_id", 20)]).unwrap();
    let spec = schema.feature_spec();
    assert_eq!((spec.sparse[0].vocab, spec.sparse[1].vocab), (10, 20));
    // Hashed columns keep their buckets.
    assert_eq!(spec.sparse[4].vocab, 4096);
}
