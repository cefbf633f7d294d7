//! Data safety: no input makes a reader panic, hang, grow memory without bound or answer
//! wrongly without saying so. By class: broken CSV structure (unclosed quotes in any column,
//! over-long fields and records) on every read path; unbounded inputs and files that are not
//! regular files; columns a read does not need; dense values too large for the model; error
//! messages that print each cause once.

use std::io::Write;
use std::path::{Path, PathBuf};

use hinet_data::{
    DENSE_WARN_ABS, DataError, DenseNormalizer, InputFile, Normalize, ReadOptions, Schema, SplitSpec, load, stream,
};

/// Reads `scenario`, `user`, `price` and the labels; `note` is in the files but not the schema.
const SCHEMA: &str = r#"
name = "safety"
scenarios = ["a", "b"]
scenario_column = "page"

[[tasks]]
name = "ctr"
column = "click"

[[sparse]]
column = "user"
vocab = 100

[[dense]]
column = "price"
"#;

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA).unwrap()
}

/// `rows` good rows; the row with index `bad` (line `bad + 2`) gets `note` = `bad_note`.
fn body(delim: char, rows: usize, bad: Option<(usize, &str)>) -> String {
    let mut s = ["page", "user", "note", "price", "click"].join(&delim.to_string()) + "\n";
    for r in 0..rows {
        let note = match bad {
            Some((b, n)) if b == r => n.to_string(),
            _ => format!("n{r}"),
        };
        let fields = [
            if r % 2 == 0 { "a" } else { "b" }.to_string(),
            (r % 100).to_string(),
            note,
            format!("{}.5", r % 7),
            (r % 2).to_string(),
        ];
        s += &fields.join(&delim.to_string());
        s.push('\n');
    }
    s
}

/// Writes `text` as `name` (gzip-compressed for `.gz`).
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if name.ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(&p, text).unwrap();
    }
    p
}

/// The rows a stream delivers before its error (or the end), and the error.
fn stream_rows(schema: &Schema, files: &[InputFile], opt: &ReadOptions) -> (usize, Option<DataError>) {
    let mut rows = 0;
    for chunk in stream(schema, files, opt) {
        match chunk {
            Ok(c) => rows += c.len(),
            Err(e) => return (rows, Some(e)),
        }
    }
    (rows, None)
}

fn opts(skip: bool) -> ReadOptions {
    ReadOptions {
        skip_bad_rows: skip,
        chunk_rows: 7,
        ..ReadOptions::default()
    }
}

// ---- 1. CSV structure ----

/// The reported case: 300 rows, a quote opened in an unused column of row 9 and never closed.
/// It used to read 9 rows and succeed; now every path (load / stream, plain / gzip, comma / tab,
/// skipping or not) stops with an error naming the file and the line where the quote opened.
#[test]
fn an_open_quote_in_an_unused_column_stops_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    for (name, delim) in [("x.csv", ','), ("x.csv.gz", ','), ("x.tsv", '\t'), ("x.tsv.gz", '\t')] {
        // Far from the end: more than 64 lines stay open. Near the end: the file ends inside it.
        for (bad_row, rows) in [(8, 300), (295, 300)] {
            let p = write(dir.path(), name, &body(delim, rows, Some((bad_row, "\"oops"))));
            let quote_line = bad_row as u64 + 2;
            let file = p.display().to_string();
            for skip in [false, true] {
                let e = load(&schema(), &[InputFile::new(&p)], &opts(skip)).unwrap_err();
                let DataError::Structure { file: f, line, why } = &e else {
                    panic!("{name}: {e}")
                };
                assert_eq!((f.as_str(), *line), (file.as_str(), quote_line), "{e}");
                assert!(why.contains("even with skip_bad_rows"), "{e}");
                if rows - bad_row > 64 {
                    assert!(
                        why.contains(&format!(
                            "the record starting on line {quote_line} spans more than 64 lines"
                        )),
                        "{e}"
                    );
                } else {
                    assert!(
                        why.starts_with(&format!(
                            "column \"note\": the quote opened on line {quote_line} is never closed"
                        )),
                        "{e}"
                    );
                }
                assert_eq!(e.row_kind(), None, "a structural error is not a skippable row");
                // The stream delivers the rows before the broken record, then the same error.
                let (rows_before, err) = stream_rows(&schema(), &[InputFile::new(&p)], &opts(skip));
                assert_eq!(rows_before, bad_row, "{name}");
                assert_eq!(err.unwrap().to_string(), e.to_string());
            }
        }
    }
}

#[test]
fn quoted_fields_with_line_breaks_and_quotes_still_read_and_keep_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "page,user,note,price,click\n\
                a,1,\"two\nlines, \"\"quoted\"\"\",1.5,0\n\
                b,2,plain,2.5,1\r\n\
                a,3,\"x\",oops,0\n";
    let p = write(dir.path(), "q.csv", text);
    let opt = ReadOptions::skipping(true);
    let l = load(&schema(), &[InputFile::new(&p)], &opt).unwrap();
    assert_eq!(l.data.len(), 2);
    assert_eq!(l.data.sparse, vec![1, 2]);
    // The bad row is on physical line 5 (the first record spans lines 2-3).
    assert_eq!(
        l.report.examples[0].to_string(),
        format!(r#"{}:5: column "price": "oops" is not a number"#, p.display())
    );
}

#[test]
fn a_multi_line_record_with_the_wrong_field_count_names_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A stray quote closed three lines later: one record of lines 3-5 with too many fields.
    let mut text = body(',', 6, None);
    text = text.replacen("n1,", "\"n1,", 1).replacen("n3,", "n3\",x,", 1);
    let p = write(dir.path(), "s.csv", &text);
    let e = load(&schema(), &[InputFile::new(&p)], &ReadOptions::default()).unwrap_err();
    assert_eq!(e.row_kind(), Some(hinet_data::BadRowKind::FieldCount), "{e}");
    assert!(
        e.to_string()
            .ends_with("(the record spans lines 3-5: a quoted field holds line breaks; a stray quote?)"),
        "{e}"
    );
}

#[test]
fn over_long_fields_and_records_are_errors_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // A field one byte over the default 1 MiB, in line 4, column "note".
    let long = "x".repeat(hinet_data::DEFAULT_MAX_FIELD_BYTES + 1);
    let p = write(dir.path(), "f.csv", &body(',', 5, Some((2, &long))));
    for skip in [false, true] {
        let e = load(&schema(), &[InputFile::new(&p)], &opts(skip)).unwrap_err();
        assert!(matches!(e, DataError::Structure { line: 4, .. }), "{e}");
        assert!(
            e.to_string().starts_with(&format!(
                "{}:4: column \"note\": a field longer than 1048576 bytes (ReadOptions::max_field_bytes)",
                p.display()
            )),
            "{e}"
        );
        let (_, err) = stream_rows(&schema(), &[InputFile::new(&p)], &opts(skip));
        assert_eq!(err.unwrap().to_string(), e.to_string());
    }
    // Smaller bounds through ReadOptions: record bytes and record lines.
    let p = write(dir.path(), "r.csv", &body(',', 5, Some((3, &"y".repeat(500)))));
    let small = ReadOptions {
        max_record_bytes: 200,
        ..ReadOptions::default()
    };
    let e = load(&schema(), &[InputFile::new(&p)], &small).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}:5: the record starting on line 5 is longer than 200 bytes (ReadOptions::max_record_bytes)",
            p.display()
        )),
        "{e}"
    );
    let p = write(dir.path(), "l.csv", &body(',', 8, Some((1, "\"a\nb\nc\nd\""))));
    let few = ReadOptions {
        max_record_lines: 3,
        ..ReadOptions::default()
    };
    let e = load(&schema(), &[InputFile::new(&p)], &few).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3: the record starting on line 3 spans more than 3 lines",
            p.display()
        )),
        "{e}"
    );
    // Four lines are within a bound of four (and the bad field count is then a plain bad row).
    let four = ReadOptions {
        max_record_lines: 4,
        skip_bad_rows: true,
        ..ReadOptions::default()
    };
    let l = load(&schema(), &[InputFile::new(&p)], &four).unwrap();
    assert_eq!((l.data.len(), l.report.rows_skipped), (8, 0));
    // A zero bound is a configuration error, not a reader that rejects everything.
    let zero = ReadOptions {
        max_record_lines: 0,
        ..ReadOptions::default()
    };
    let e = load(&schema(), &[InputFile::new(&p)], &zero).unwrap_err();
    assert!(e.to_string().contains("max_record_lines must be at least 1"), "{e}");
}

#[test]
fn a_truncated_or_corrupt_gzip_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "t.csv.gz", &body(',', 2000, None));
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&schema(), &[InputFile::new(&p)], &ReadOptions::skipping(true)).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!("{}: reading line ", p.display())),
        "{e}"
    );
    let mut junk = bytes.clone();
    for b in junk.iter_mut().skip(30).step_by(7) {
        *b ^= 0x5a;
    }
    std::fs::write(&p, &junk).unwrap();
    let e = load(&schema(), &[InputFile::new(&p)], &ReadOptions::skipping(true)).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Io { .. } | DataError::Structure { .. } | DataError::Header { .. }
        ),
        "{e}"
    );
}

#[test]
fn a_delimiter_that_would_make_the_structure_ambiguous_is_refused() {
    for d in ["\\\"", "\\n", "\\r"] {
        let e = Schema::from_toml_str(&format!("delimiter = \"{d}\"\n{SCHEMA}")).unwrap_err();
        assert!(
            e.to_string().contains("cannot be the quote character or a line end"),
            "{d}: {e}"
        );
    }
}

// ---- 2. Unbounded input, files that are not regular files ----

#[cfg(target_os = "linux")]
#[test]
fn dev_zero_is_a_bounded_error_not_an_abort() {
    let start = std::time::Instant::now();
    let e = load(&schema(), &[InputFile::new("/dev/zero")], &ReadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/dev/zero:1: field 1 of the header: a field longer than 1048576 bytes"),
        "{e}"
    );
    let (_, e) = stream_rows(&schema(), &[InputFile::new("/dev/zero")], &ReadOptions::default());
    assert!(matches!(e, Some(DataError::Structure { line: 1, .. })));
    assert!(start.elapsed().as_secs() < 30);
    // A schema read from /dev/zero stops at its size bound too.
    let e = Schema::from_toml_file("/dev/zero").unwrap_err();
    assert!(e.to_string().contains("too large for a schema"), "{e}");
    // /dev/null is an empty file.
    let e = load(&schema(), &[InputFile::new("/dev/null")], &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::EmptyFile { .. }), "{e}");
}

#[test]
fn a_line_without_end_over_the_record_bound_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // Short fields (so the field bound is not what stops it): a record over 16 MiB on line 3.
    let mut text = body(',', 1, None);
    text += &"1,".repeat(hinet_data::DEFAULT_MAX_RECORD_BYTES / 2 + 1);
    let p = write(dir.path(), "long.csv", &text);
    let e = load(&schema(), &[InputFile::new(&p)], &ReadOptions::skipping(true)).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3: the record starting on line 3 is longer than 16777216 bytes",
            p.display()
        )),
        "{e}"
    );
}

#[test]
fn a_directory_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(&schema(), &[InputFile::new(dir.path())], &ReadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: is a directory, not a data file", dir.path().display())
    );
    let (_, e) = stream_rows(&schema(), &[InputFile::new(dir.path())], &ReadOptions::default());
    assert!(matches!(e, Some(DataError::Io { .. })));
    let e = Schema::from_toml_file(dir.path()).unwrap_err();
    assert!(e.to_string().ends_with("is a directory, not a schema file"), "{e}");
}

/// A FIFO (what `<(zcat x.gz)` gives) is read as a stream.
#[cfg(unix)]
#[test]
fn a_fifo_is_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        println!("skipped: mkfifo is not available");
        return;
    }
    let text = body(',', 50, None);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let l = load(&schema(), &[InputFile::new(&fifo)], &ReadOptions::default()).unwrap();
    writer.join().unwrap();
    assert_eq!(l.data.len(), 50);
}

// ---- 3. Columns a read does not need ----

const SCORING_SCHEMA: &str = r#"
name = "scoring"
scenarios = ["a", "b"]
scenario_column = "page"
split_key = ["user", "session"]
oracle_columns = ["p_click"]

[[tasks]]
name = "ctr"
column = "click"

[[sparse]]
column = "user"
vocab = 100

[[dense]]
column = "price"
"#;

fn scoring() -> ReadOptions {
    ReadOptions {
        labels_optional: true,
        chunk_rows: 2,
        ..ReadOptions::default()
    }
}

#[test]
fn scoring_reads_need_no_labels_oracle_or_split_key_columns() {
    let s = Schema::from_toml_str(SCORING_SCHEMA).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bare = write(dir.path(), "bare.csv", "page,user,price\na,1,2\nb,2,3\na,3,4\n");
    let l = load(&s, &[InputFile::new(&bare)], &scoring()).unwrap();
    assert_eq!(l.data.len(), 3);
    assert_eq!(l.data.labels, vec![0.0; 3]);
    assert_eq!(l.data.oracle, None, "no oracle columns: no oracle values");
    assert_eq!(l.data.row_key, vec![0, 1, 2], "no split-key columns: keyed by position");
    l.data.validate().unwrap();
    // Only some of the split-key columns (user, not session): also by position; labels read.
    let partial = write(dir.path(), "partial.csv", "page,user,price,click\na,1,2,1\n");
    let l = load(&s, &[InputFile::new(&partial)], &scoring()).unwrap();
    assert_eq!((l.data.row_key.clone(), l.data.labels.clone()), (vec![0], vec![1.0]));
    // With the oracle column it is read (and checked) as usual.
    let full = write(
        dir.path(),
        "full.csv",
        "page,user,price,click,p_click,session\na,1,2,1,0.25,s1\nb,2,3,0,0.5,s2\n",
    );
    let l = load(&s, &[InputFile::new(&full)], &scoring()).unwrap();
    assert_eq!(l.data.oracle, Some(vec![0.25, 0.5]));
    assert_eq!(l.data.labels, vec![1.0, 0.0]);
    assert_ne!(l.data.row_key, vec![0, 1], "split-key columns present: hashed keys");
    let bad = write(dir.path(), "bad.csv", "page,user,price,p_click\na,1,2,7\n");
    let e = load(&s, &[InputFile::new(&bad)], &scoring()).unwrap_err();
    assert!(
        e.to_string()
            .contains(r#"column "p_click": "7" is not a probability in [0, 1]"#),
        "{e}"
    );
    // Files with and without oracle columns: load keeps oracle values only if all have them;
    // each streamed chunk is from files of one kind.
    let files = [InputFile::new(&full), InputFile::new(&bare), InputFile::new(&full)];
    let l = load(&s, &files, &scoring()).unwrap();
    assert_eq!((l.data.len(), l.data.oracle.is_some()), (7, false));
    let kinds: Vec<(usize, bool)> = stream(&s, &files, &scoring())
        .map(|c| c.map(|c| (c.len(), c.oracle.is_some())).unwrap())
        .collect();
    assert_eq!(kinds, vec![(2, true), (2, false), (1, false), (2, true)]);
    // Training and evaluation reads (labels required) still require the labels and the split
    // key; the oracle columns, which only add a diagnostic AUC, are never required.
    for (file, missing) in [(&bare, "click"), (&partial, "session")] {
        let e = load(&s, &[InputFile::new(file)], &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains(&format!("column \"{missing}\"")), "{e}");
    }
    let no_oracle = write(
        dir.path(),
        "no_oracle.csv",
        "page,user,price,click,session\na,1,2,1,s\n",
    );
    let l = load(&s, &[InputFile::new(&no_oracle)], &ReadOptions::default()).unwrap();
    assert_eq!((l.data.labels.clone(), l.data.oracle.clone()), (vec![1.0], None));
    // Scenario and feature columns are never optional.
    let no_price = write(dir.path(), "no_price.csv", "page,user\na,1\n");
    let e = load(&s, &[InputFile::new(&no_price)], &scoring()).unwrap_err();
    assert!(e.to_string().contains(r#"column "price" (dense in the schema)"#), "{e}");
}

// ---- 4. Dense values out of range ----

#[test]
fn huge_dense_values_are_named_with_column_value_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = body(',', 20, None);
    text += "a,1,big,3e38,0\nb,2,big,-4e37,1\n";
    let p = write(dir.path(), "big.csv", &text);
    let l = load(&schema(), &[InputFile::new(&p)], &ReadOptions::default()).unwrap();
    // From the load report: exact over all rows, with the file and line.
    let w = l.report.dense_range_warnings(None, DENSE_WARN_ABS);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].column, "price");
    assert_eq!(w[0].max_abs, 3e38);
    assert_eq!(w[0].at.as_ref().unwrap().to_string(), format!("{}:22", p.display()));
    let msg = w[0].to_string();
    assert!(
        msg.starts_with(&format!(
            "dense column \"price\": |value| reaches 3.000e38 as read (normalize = \"none\"), above 1e6, first at {}:22",
            p.display()
        )),
        "{msg}"
    );
    // From the dataset: the row, and how many rows.
    let w = l.data.dense_range_warnings(DENSE_WARN_ABS);
    assert_eq!((w[0].row, w[0].rows_over, w[0].max_abs), (Some(20), Some(2), 3e38));
    assert!(w[0].to_string().contains("in 2 rows, first at row 20"), "{}", w[0]);
    // Normal data: no warning.
    let ok = write(dir.path(), "ok.csv", &body(',', 20, None));
    let l = load(&schema(), &[InputFile::new(&ok)], &ReadOptions::default()).unwrap();
    assert!(l.report.dense_range_warnings(None, DENSE_WARN_ABS).is_empty());
    assert!(l.data.dense_range_warnings(DENSE_WARN_ABS).is_empty());
}

#[test]
fn range_warnings_judge_the_values_after_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    // Timestamps: huge as read, harmless once standardised.
    let mut text = String::from("page,user,price,click\n");
    for r in 0..200 {
        text += &format!("a,{},{},{}\n", r % 100, 1.7e9 + f64::from(r) * 1000.0, r % 2);
    }
    let p = write(dir.path(), "ts.csv", &text);
    let s =
        Schema::from_toml_str(&SCHEMA.replace("column = \"price\"", "column = \"price\"\nnormalize = \"standardize\""))
            .unwrap();
    let l = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap();
    // Before normalisation the dataset check skips columns still to be normalised.
    assert!(l.data.dense_range_warnings(DENSE_WARN_ABS).is_empty());
    let mut splits = l.data.split(&SplitSpec::hash(0.8, 0.1, 0.1, 1)).unwrap();
    let n = splits.normalize().unwrap();
    assert!(l.report.dense_range_warnings(Some(&n), DENSE_WARN_ABS).is_empty());
    assert!(splits.train.dense_range_warnings(DENSE_WARN_ABS).is_empty());
    // Without the normaliser the report sees the raw values.
    assert_eq!(l.report.dense_range_warnings(None, DENSE_WARN_ABS).len(), 1);
    // A far outlier standardised with the training statistics is flagged, with its line.
    let mut with_outlier = text.clone();
    with_outlier += "b,1,3e38,0\n";
    let p = write(dir.path(), "out.csv", &with_outlier);
    let l = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap();
    let w = l.report.dense_range_warnings(Some(&n), DENSE_WARN_ABS);
    assert_eq!(w.len(), 1);
    assert!(w[0].normalized && w[0].max_abs > 1e20, "{}", w[0]);
    assert_eq!(w[0].at.as_ref().unwrap().line, 202);
}

#[test]
fn nan_inf_and_f32_overflow_are_bad_rows_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for v in ["NaN", "nan", "inf", "-inf", "Infinity", "1e39", "-3.5e38"] {
        let p = write(
            dir.path(),
            "n.csv",
            &body(',', 3, None).replace("1,n1,1.5", &format!("1,n1,{v}")),
        );
        let e = load(&schema(), &[InputFile::new(&p)], &ReadOptions::default()).unwrap_err();
        assert_eq!(e.row_kind(), Some(hinet_data::BadRowKind::BadNumber), "{v}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:3: column \"price\": \"{v}\"", p.display())),
            "{e}"
        );
    }
}

#[test]
fn normalising_to_a_non_finite_value_is_an_error_not_a_silent_inf() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c.csv", "page,user,price,click\na,1,1,0\nb,2,1,1\n");
    let s =
        Schema::from_toml_str(&SCHEMA.replace("column = \"price\"", "column = \"price\"\nnormalize = \"standardize\""))
            .unwrap();
    let train = load(&s, &[InputFile::new(&p)], &ReadOptions::default()).unwrap().data;
    let mut n = DenseNormalizer::fit(&train).unwrap();
    // Standardising 3e38 with a tiny std overflows f32: an error, and the data is unchanged.
    n.columns[0].std = 1e-30;
    let q = write(dir.path(), "d.csv", "page,user,price,click\na,1,3e38,0\n");
    let mut data = load(&s, &[InputFile::new(&q)], &ReadOptions::default()).unwrap().data;
    let before = data.clone();
    let e = n.apply(&mut data).unwrap_err();
    assert!(
        e.to_string().contains(
            "row 0: column \"price\": value 300000000000000000000000000000000000000 does not give a finite f32"
        ),
        "{e}"
    );
    assert_eq!(data, before);
    // A normaliser with impossible statistics (from a damaged checkpoint) is refused.
    for (mean, std) in [(0.0, 0.0), (0.0, -1.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
        n.columns[0].mean = mean;
        n.columns[0].std = std;
        let e = n.apply(&mut data).unwrap_err();
        assert!(e.to_string().contains("must be finite, std > 0"), "{e}");
    }
    assert_eq!(n.columns[0].method, Normalize::Standardize);
}

// ---- 5. Each cause printed once ----

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn an_io_error_prints_the_os_message_once_in_an_anyhow_chain() {
    let missing = Path::new("/nonexistent-dir/nothing.csv");
    let e = load(&schema(), &[InputFile::new(missing)], &ReadOptions::default()).unwrap_err();
    // "No such file or directory (os error 2)" on Linux.
    let os_text = std::fs::File::open(missing).unwrap_err().to_string();
    let chain = format!("{:#}", anyhow::Error::from(e).context("reading the data"));
    assert_eq!(count(&chain, &os_text), 1, "{chain}");
    assert!(
        chain.starts_with("reading the data: /nonexistent-dir/nothing.csv: "),
        "{chain}"
    );
    // The schema file path too.
    let e = Schema::from_toml_file(missing.with_extension("toml")).unwrap_err();
    let chain = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(count(&chain, &os_text), 1, "{chain}");
}

#[test]
fn no_data_error_repeats_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = write(
        dir.path(),
        "s.toml",
        "scenarios = [\"a\"]\nbogus = 1\n[[tasks]]\nname = \"t\"\n",
    );
    let mut errors: Vec<DataError> = vec![
        Schema::from_toml_file(&bad_toml).unwrap_err(),
        Schema::from_toml_str("scenarios = [").unwrap_err(),
        load(
            &schema(),
            &[InputFile::new("/nonexistent/x.csv")],
            &ReadOptions::default(),
        )
        .unwrap_err(),
        load(&schema(), &[InputFile::new(dir.path())], &ReadOptions::default()).unwrap_err(),
    ];
    for (name, text) in [
        ("quote.csv", body(',', 3, Some((1, "\"open")))),
        ("row.csv", body(',', 3, Some((1, "n,extra")))),
        ("hdr.csv", "page,user\n".to_string()),
        ("empty.csv", String::new()),
    ] {
        let p = write(dir.path(), name, &text);
        errors.push(load(&schema(), &[InputFile::new(&p)], &ReadOptions::default()).unwrap_err());
    }
    errors.push(DataError::Config("x".into()));
    errors.push(DataError::ReaderGone);
    for e in errors {
        let plain = e.to_string();
        assert!(std::error::Error::source(&e).is_none(), "{plain}");
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(chain, plain);
        if plain.contains("unknown field") {
            assert_eq!(count(&chain, "unknown field `bogus`"), 1, "{chain}");
        }
    }
}
