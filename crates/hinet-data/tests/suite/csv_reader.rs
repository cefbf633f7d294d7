//! CSV reading: schema TOML, bad input (each case with file, line and column), skip mode,
//! gzip, TSV, several files, streaming chunks, and a write/read round trip.

use std::io::Write;
use std::path::{Path, PathBuf};

use hinet_data::{
    BadRowKind, DataError, InputFile, ReadOptions, Schema, load, stream, synthetic::SyntheticConfig, write_csv,
};

const SCHEMA: &str = r#"
name = "toy"
scenarios = ["a", "b"]
scenario_column = "page"
split_key = ["user"]

[[tasks]]
name = "ctr"
column = "click"

[[tasks]]
name = "ctcvr"
column = "buy"

[[sparse]]
column = "user"
vocab = 10

[[sparse]]
column = "city"
hash_buckets = 100

[[dense]]
column = "price"
normalize = "log1p"

[[dense]]
column = "age"
normalize = "standardize"
"#;

const HEADER: &str = "page,user,city,price,age,click,buy\n";

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA).unwrap()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn read(path: &Path) -> Result<hinet_data::Loaded, DataError> {
    load(&schema(), &[InputFile::new(path)], &ReadOptions::default())
}

/// Reads a one-file CSV whose third line is `bad_row` and returns the error message.
fn error_for(bad_row: &str) -> (String, DataError) {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{HEADER}a,1,paris,10.5,30,0,0\n{bad_row}\nb,2,rome,3,40,1,1\n");
    let p = write(dir.path(), "x.csv", &body);
    let e = read(&p).unwrap_err();
    (e.to_string().replace(&p.display().to_string(), "x.csv"), e)
}

#[test]
fn good_file_reads_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.csv",
        &format!("{HEADER}a,1,paris,10.5,30,0,0\nb, 9 ,rome,0,40.25,1,1.0\n"),
    );
    let l = read(&p).unwrap();
    let d = &l.data;
    assert_eq!(d.len(), 2);
    assert_eq!(d.scenario, vec![0, 1]);
    assert_eq!(d.sparse[0], 1);
    assert_eq!(d.sparse[2], 9); // whitespace is trimmed
    assert_eq!(d.sparse[1], hinet_data::hash::hash_bucket(b"paris", 100));
    assert_eq!(d.dense, vec![10.5, 30.0, 0.0, 40.25]);
    assert_eq!(d.labels, vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(l.report.rows_read, 2);
    assert_eq!(d.spec.sparse[1].vocab, 100);
    d.validate().unwrap();
}

#[test]
fn wrong_field_count() {
    let (msg, e) = error_for("a,1,paris,10.5,30,0");
    assert_eq!(msg, "x.csv:3: expected 7 fields (as in the header), found 6");
    assert_eq!(e.row_kind(), Some(BadRowKind::FieldCount));
}

#[test]
fn non_numeric_dense_value() {
    let (msg, _) = error_for("a,1,paris,abc,30,0,0");
    assert_eq!(msg, r#"x.csv:3: column "price": "abc" is not a number"#);
    let (msg, _) = error_for("a,1,paris,1,NaN,0,0");
    assert_eq!(msg, r#"x.csv:3: column "age": "NaN" is not a finite number"#);
    let (msg, _) = error_for("a,1,paris,,30,0,0");
    assert_eq!(msg, r#"x.csv:3: column "price": "" is not a number"#);
    let (msg, _) = error_for("a,1,paris,-3,30,0,0");
    assert_eq!(
        msg,
        r#"x.csv:3: column "price": "-3" is <= -1, where log1p is undefined"#
    );
}

#[test]
fn id_outside_vocabulary_or_not_an_id() {
    let (msg, e) = error_for("a,10,paris,1,30,0,0");
    assert_eq!(
        msg,
        r#"x.csv:3: column "user": id 10 is outside the vocabulary (vocab = 10, ids 0..=9)"#
    );
    assert_eq!(e.row_kind(), Some(BadRowKind::IdOutOfVocab));
    let (msg, _) = error_for("a,-1,paris,1,30,0,0");
    assert_eq!(msg, r#"x.csv:3: column "user": "-1" is not a non-negative integer id"#);
    let (msg, _) = error_for("a,2.0,paris,1,30,0,0");
    assert_eq!(msg, r#"x.csv:3: column "user": "2.0" is not a non-negative integer id"#);
}

#[test]
fn unknown_scenario() {
    let (msg, e) = error_for("c,1,paris,1,30,0,0");
    assert_eq!(
        msg,
        r#"x.csv:3: column "page": scenario "c" is not one of the schema's scenarios ["a", "b"]"#
    );
    assert_eq!(e.row_kind(), Some(BadRowKind::UnknownScenario));
}

#[test]
fn missing_or_invalid_label() {
    let (msg, e) = error_for("a,1,paris,1,30,,0");
    assert_eq!(msg, r#"x.csv:3: column "click": label is missing"#);
    assert_eq!(e.row_kind(), Some(BadRowKind::BadLabel));
    let (msg, _) = error_for("a,1,paris,1,30,0,2");
    assert_eq!(msg, r#"x.csv:3: column "buy": label "2" is not 0 or 1"#);
    let (msg, _) = error_for("a,1,paris,1,30,yes,0");
    assert_eq!(msg, r#"x.csv:3: column "click": label "yes" is not 0 or 1"#);
}

#[test]
fn positive_label_rule_accepts_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.csv",
        &format!("{HEADER}a,1,paris,1,30,3,0\nb,1,x,1,30,0.5,-1\n"),
    );
    let mut s = schema();
    s.labels = hinet_data::LabelRule::Positive;
    let d = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap().data;
    assert_eq!(d.labels, vec![1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.csv", "");
    let e = read(&p).unwrap_err();
    assert!(matches!(e, DataError::EmptyFile { .. }));
    assert_eq!(e.to_string(), format!("{}: is empty (no header line)", p.display()));
    let p = write(dir.path(), "header.csv", HEADER);
    let e = read(&p).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: has a header but no data rows", p.display()));
}

#[test]
fn missing_column_is_checked_against_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.csv",
        "page,user,city,cost,age,click,buy\na,1,paris,1,30,0,0\n",
    );
    let e = read(&p).unwrap_err();
    assert!(matches!(e, DataError::Header { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            r#"{}:1: column "price" (dense in the schema) is not in the header"#,
            p.display()
        )
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = read(Path::new("/nonexistent/nothing.csv")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/nothing.csv:"));
}

#[test]
fn bad_schemas() {
    let e = Schema::from_toml_str("scenarios = []\n[[tasks]]\nname = \"ctr\"").unwrap_err();
    assert!(e.to_string().contains("`scenarios` is empty"), "{e}");
    let e = Schema::from_toml_str("scenarios = [\"1\"]\n[[tasks]]\nname = \"ctr\"\n[[sparse]]\ncolumn = \"u\"")
        .unwrap_err();
    assert!(
        e.to_string().contains("exactly one of `vocab` and `hash_buckets`"),
        "{e}"
    );
    let e = Schema::from_toml_str("scenarios = [\"1\"]\nbogus = 1\n[[tasks]]\nname = \"ctr\"").unwrap_err();
    assert!(matches!(e, DataError::SchemaToml { .. }), "{e}");
    // No scenario column and a file without a scenario.
    let s = Schema::from_toml_str("scenarios = [\"1\"]\n[[tasks]]\nname = \"ctr\"").unwrap();
    let mut it = stream(&s, &[InputFile::new("x.csv")], &ReadOptions::default());
    assert!(matches!(it.next(), Some(Err(DataError::Config(_)))));
    assert!(it.next().is_none());
}

#[test]
fn skip_mode_counts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEADER}a,1,paris,1,30,0,0\n\
         a,1,paris,1,30,0\n\
         a,1,paris,abc,30,0,0\n\
         a,99,paris,1,30,0,0\n\
         z,1,paris,1,30,0,0\n\
         a,1,paris,1,30,7,0\n\
         a,1,paris,xyz,30,0,0\n\
         b,2,rome,2,31,1,1"
    );
    let p = write(dir.path(), "x.csv", &body);
    let opts = ReadOptions {
        skip_bad_rows: true,
        max_examples: 3,
        ..Default::default()
    };
    let l = load(&schema(), &[InputFile::new(&p)], &opts).unwrap();
    assert_eq!(l.data.len(), 2);
    assert_eq!(l.report.rows_read, 2);
    assert_eq!(l.report.rows_skipped, 6);
    let k = &l.report.by_kind;
    assert_eq!(k[&BadRowKind::FieldCount], 1);
    assert_eq!(k[&BadRowKind::BadNumber], 2);
    assert_eq!(k[&BadRowKind::IdOutOfVocab], 1);
    assert_eq!(k[&BadRowKind::UnknownScenario], 1);
    assert_eq!(k[&BadRowKind::BadLabel], 1);
    assert_eq!(l.report.examples.len(), 3);
    let lines: Vec<u64> = l
        .report
        .examples
        .iter()
        .map(|e| match e {
            DataError::Row { line, .. } => *line,
            _ => 0,
        })
        .collect();
    assert_eq!(lines, vec![3, 4, 5]);
    let text = l.report.to_string();
    assert!(text.starts_with("2 rows read, 6 skipped ("), "{text}");
    // Skipped rows do not shift the row-position keys of later rows.
    assert_eq!(l.data.row_key.len(), 2);
    // The last row has no trailing newline and is still read.
    assert_eq!(l.data.scenario, vec![0, 1]);
}

#[test]
fn gzip_tsv_and_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = "page\tuser\tcity\tprice\tage\tclick\tbuy\na\t1\tparis\t1\t30\t0\t0\nb\t2\tnew york, ny\t2\t31\t1\t1\n";
    let gz_path = dir.path().join("x.tsv.gz");
    let mut enc = flate2_writer(&gz_path);
    enc.write_all(tsv.as_bytes()).unwrap();
    enc.finish().unwrap();
    let csv_path = write(dir.path(), "y.csv", &format!("{HEADER}b,3,rome,3,32,1,0\n"));
    let l = load(
        &schema(),
        &[InputFile::new(&gz_path), InputFile::new(&csv_path)],
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(l.data.len(), 3);
    assert_eq!(l.data.scenario, vec![0, 1, 1]);
    assert_eq!(l.data.sparse[3], hinet_data::hash::hash_bucket(b"new york, ny", 100));
    assert_eq!(l.data.sparse[4], 3);
}

fn flate2_writer(p: &Path) -> flate2::write::GzEncoder<std::fs::File> {
    flate2::write::GzEncoder::new(std::fs::File::create(p).unwrap(), flate2::Compression::fast())
}

#[test]
fn streams_in_chunks_and_reports_errors_with_global_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = HEADER.to_string();
    for r in 0..1000 {
        body.push_str(&format!("a,{},c{},{},{},0,0\n", r % 10, r, r, r % 50));
    }
    body.push_str("a,1,paris,oops,30,0,0\n");
    let p = write(dir.path(), "big.csv", &body);
    let opts = ReadOptions {
        chunk_rows: 300,
        ..Default::default()
    };
    let mut it = stream(&schema(), &[InputFile::new(&p)], &opts);
    let sizes: Vec<usize> = it.by_ref().take(4).map(|c| c.unwrap().len()).collect();
    assert_eq!(sizes, vec![300, 300, 300, 100]);
    // The bad row is at line 1002 (header + 1000 rows + 1): the stream ends with it.
    let e = it.next().unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(r#"{}:1002: column "price": "oops" is not a number"#, p.display())
    );
    assert!(it.next().is_none());
    // Dropping a stream early does not hang.
    let mut early = stream(
        &schema(),
        &[InputFile::new(&p)],
        &ReadOptions { chunk_rows: 10, ..opts },
    );
    assert_eq!(early.next().unwrap().unwrap().len(), 10);
    drop(early);
}

#[test]
fn schema_toml_file_round_trip_with_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.csv", &format!("{HEADER}a,1,paris,1,30,0,0\n"));
    let text = format!("{SCHEMA}\n[[files]]\npath = \"d.csv\"\npart = \"train\"\n");
    let sp = write(dir.path(), "schema.toml", &text);
    let s = Schema::from_toml_file(&sp).unwrap();
    assert_eq!(s.files[0].path, dir.path().join("d.csv"));
    let d = load(&s, &s.files, &ReadOptions::default()).unwrap().data;
    assert_eq!(d.file_part, vec![Some(hinet_data::Part::Train)]);
    let again = Schema::from_toml_str(&s.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, s);
}

#[test]
fn synthetic_written_as_csv_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        rows: 3_000,
        users: 300,
        items: 100,
        ..Default::default()
    };
    let data = hinet_data::synthetic::generate(&cfg).unwrap();
    for name in ["syn.csv", "syn.csv.gz"] {
        let csv = dir.path().join(name);
        let sp = dir.path().join("syn.toml");
        write_csv(&data, &csv, Some(&sp)).unwrap();
        let s = Schema::from_toml_file(&sp).unwrap();
        let back = load(&s, &s.files, &ReadOptions::default()).unwrap().data;
        assert_eq!(back.spec, data.spec);
        assert_eq!(back.scenario, data.scenario);
        assert_eq!(back.sparse, data.sparse);
        assert_eq!(back.labels, data.labels);
        assert_eq!(back.row_key, data.row_key);
        assert_eq!(back.dense_normalize, data.dense_normalize);
        for (a, b) in back.dense.iter().zip(&data.dense) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
        for (a, b) in back.oracle.as_ref().unwrap().iter().zip(data.oracle.as_ref().unwrap()) {
            assert!((a - b).abs() <= 1e-7, "{a} vs {b}");
        }
    }
}

#[test]
fn scenario_names_are_what_the_model_sees() {
    let text = SCHEMA.replace(
        "scenarios = [\"a\", \"b\"]",
        "scenarios = [\"a\", \"b\"]\nscenario_names = [\"home page\", \"basket\"]",
    );
    let s = Schema::from_toml_str(&text).unwrap();
    assert_eq!(s.feature_spec().scenarios, vec!["home page", "basket"]);
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.csv",
        &format!("{HEADER}b,1,paris,1,30,0,0\na,2,rome,2,31,1,1\n"),
    );
    let d = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap().data;
    // The data still holds values; the spec names them.
    assert_eq!(d.scenario, vec![1, 0]);
    assert_eq!(d.spec.scenarios, vec!["home page", "basket"]);
    // Unknown values are reported as values.
    let bad = write(dir.path(), "y.csv", &format!("{HEADER}basket,1,paris,1,30,0,0\n"));
    let e = load(&s, &[InputFile::new(&bad)], &ReadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains(r#"scenario "basket" is not one of the schema's scenarios ["a", "b"]"#),
        "{e}"
    );
    // Round trip keeps the names; without names the key is not written.
    assert_eq!(Schema::from_toml_str(&s.to_toml_string().unwrap()).unwrap(), s);
    assert!(!schema().to_toml_string().unwrap().contains("scenario_names"));
    assert_eq!(schema().feature_spec().scenarios, vec!["a", "b"]);
}

#[test]
fn bad_scenario_names() {
    let with = |names: &str| {
        Schema::from_toml_str(&SCHEMA.replace(
            "scenarios = [\"a\", \"b\"]",
            &format!("scenarios = [\"a\", \"b\"]\nscenario_names = {names}"),
        ))
        .unwrap_err()
        .to_string()
    };
    let e = with("[\"x\"]");
    assert!(e.contains("1 scenario_names for 2 scenarios"), "{e}");
    let e = with("[\"x\", \"x\"]");
    assert!(e.contains("scenario name \"x\" is listed twice"), "{e}");
    let e = with("[\"x\", \" \"]");
    assert!(e.contains("a scenario name is empty"), "{e}");
}

#[test]
fn vocab_is_a_number_or_auto() {
    let s = Schema::from_toml_str(&SCHEMA.replace("vocab = 10", "vocab = \"auto\"")).unwrap();
    assert!(s.sparse[0].is_auto() && s.has_auto_vocab());
    assert_eq!(s.sparse[0].vocab, Some(hinet_data::Vocab::Auto));
    let text = s.to_toml_string().unwrap();
    assert!(text.contains("vocab = \"auto\""), "{text}");
    assert_eq!(Schema::from_toml_str(&text).unwrap(), s);
    assert_eq!(schema().sparse[0].vocab, Some(hinet_data::Vocab::Fixed(10)));
    // The vocabulary comes from the loaded rows; ids beyond 10 are fine now.
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", &format!("{HEADER}a,12,paris,1,30,0,0\n"));
    let b = write(
        dir.path(),
        "b.csv",
        &format!("{HEADER}a,40,paris,1,30,0,0\nb,7,rome,1,30,0,0\n"),
    );
    let d = load(&s, &[InputFile::new(&a), InputFile::new(&b)], &ReadOptions::default())
        .unwrap()
        .data;
    assert_eq!(d.spec.sparse[0].vocab, 41);
    assert_eq!(d.sparse.iter().step_by(2).copied().collect::<Vec<_>>(), vec![12, 40, 7]);
    d.validate().unwrap();
    for (bad, want) in [
        (
            "vocab = \"big\"",
            "expected a positive integer (the number of ids) or \"auto\"",
        ),
        (
            "vocab = -3",
            "expected a positive integer (the number of ids) or \"auto\"",
        ),
        ("vocab = 0", "size 0 must be in 1..=2^32-1"),
        ("vocab = 4294967296", "size 4294967296 must be in 1..=2^32-1"),
        (
            "vocab = \"auto\"\nhash_buckets = 8",
            "exactly one of `vocab` and `hash_buckets`",
        ),
    ] {
        let e = Schema::from_toml_str(&SCHEMA.replace("vocab = 10", bad)).unwrap_err();
        assert!(e.to_string().contains(want), "{bad}: {e}");
    }
}

#[test]
fn log1p_standardize_reads_and_rejects_values_at_or_below_minus_one() {
    let s = Schema::from_toml_str(&SCHEMA.replace("\"log1p\"", "\"log1p_standardize\"")).unwrap();
    assert_eq!(s.dense[0].normalize, hinet_data::Normalize::Log1pStandardize);
    let british = Schema::from_toml_str(&SCHEMA.replace("\"log1p\"", "\"log1p_standardise\"")).unwrap();
    assert_eq!(british, s);
    assert!(
        s.to_toml_string()
            .unwrap()
            .contains("normalize = \"log1p_standardize\"")
    );
    let dir = tempfile::tempdir().unwrap();
    for (value, line) in [("-1", 3), ("-0.9999999999", 3)] {
        // -0.9999999999 is above -1, but the f32 it is stored as is -1: log1p would be -inf.
        let p = write(
            dir.path(),
            "x.csv",
            &format!("{HEADER}a,1,paris,1,30,0,0\na,1,paris,{value},30,0,0\n"),
        );
        let e = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                r#"{}:{line}: column "price": "{value}" is <= -1, where log1p is undefined"#,
                p.display()
            )
        );
    }
}
