//! Property tests on random and mutated input: valid CSV files and schema TOML with bytes
//! flipped, inserted and deleted (quotes, delimiters, line ends, huge numbers, invalid UTF-8,
//! long runs). Every outcome is `Ok` with a consistent dataset or a typed error, never a panic,
//! and a record beyond the bounds is always the structural error naming its line.
//!
//! Deterministic: a fixed seed, no failure files; 256 small cases per property.

use std::io::Write;
use std::path::{Path, PathBuf};

use hinet_data::{DataError, InputFile, ReadOptions, Schema, load, stream};
use proptest::prelude::*;
use proptest::sample::Index;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x0da7_a5af),
        ..ProptestConfig::default()
    }
}

const SCHEMA: &str = r#"
name = "fuzz"
scenarios = ["a", "b", "c"]
scenario_column = "page"
split_key = ["user"]
oracle_columns = ["p_click", "p_buy"]

[[tasks]]
name = "click"

[[tasks]]
name = "buy"

[[sparse]]
column = "user"
vocab = 50

[[sparse]]
column = "city"
hash_buckets = 64

[[dense]]
column = "price"
normalize = "log1p"

[[dense]]
column = "age"
normalize = "standardize"

[[dense]]
column = "raw"
"#;

const COLUMNS: [&str; 10] = [
    "page", "user", "note", "city", "price", "age", "raw", "click", "buy", "p_click",
];

/// A valid file: the schema's columns plus `note` (unused), with quoted fields holding
/// delimiters, escaped quotes and (if `multiline`) line breaks.
fn valid_csv(rows: usize, delim: u8, multiline: bool) -> Vec<u8> {
    let d = delim as char;
    let mut s = COLUMNS.join(&d.to_string());
    s += &format!("{d}p_buy\n");
    for r in 0..rows {
        let note = match r % 4 {
            0 => format!("\"say \"\"hi\"\"{d} ok\""),
            1 if multiline => "\"two\nlines\"".to_string(),
            2 => "plain".to_string(),
            _ => String::new(),
        };
        let fields = [
            ["a", "b", "c"][r % 3].to_string(),
            (r * 7 % 50).to_string(),
            note,
            format!("\"city {}\"", r % 5),
            format!("{}.25", r % 9),
            (20 + r % 40).to_string(),
            format!("-{}e-2", r % 11),
            (r % 2).to_string(),
            ((r % 4) / 3).to_string(),
            "0.5".to_string(),
            "0.125".to_string(),
        ];
        s += &fields.join(&d.to_string());
        s.push('\n');
    }
    s.into_bytes()
}

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b",",
    b"\t",
    b"\n",
    b"\r",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xEF\xBB\xBF",
    b"3e38",
    b"-4e38",
    b"1e400",
    b"NaN",
    b"inf",
    b"-1",
    b"99999999999999999999999",
    b"4294967295",
    b" ",
    b"\"\n\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, &'static [u8]),
    Delete(Index, usize),
    Run(Index, u8, usize),
    DuplicateLine(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        4 => (any::<Index>(), proptest::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), proptest::sample::select(&[b'x', b'"', b'\n', b',', 0][..]), 100usize..6000)
            .prop_map(|(i, b, n)| Mutation::Run(i, b, n)),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::Flip(i, x) if !bytes.is_empty() => {
            let k = i.index(bytes.len());
            bytes[k] ^= x | 1;
        }
        Mutation::Flip(..) => {}
        Mutation::Insert(i, t) => {
            let k = at(i, bytes.len());
            bytes.splice(k..k, t.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let k = at(i, bytes.len());
            let end = (k + n).min(bytes.len());
            bytes.drain(k..end);
        }
        Mutation::Run(i, b, n) => {
            let k = at(i, bytes.len());
            bytes.splice(k..k, std::iter::repeat_n(*b, *n));
        }
        Mutation::DuplicateLine(i) => {
            let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
            if !lines.is_empty() {
                let l = lines[i.index(lines.len())].to_vec();
                let k = at(i, bytes.len());
                bytes.splice(k..k, l);
            }
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if name.ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(&p, bytes).unwrap();
    }
    p
}

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA).unwrap()
}

/// Everything a stream delivers: rows, then the error if it ended with one.
fn drain(s: &Schema, files: &[InputFile], opt: &ReadOptions) -> (usize, Option<String>) {
    let mut rows = 0;
    let mut it = stream(s, files, opt);
    for c in it.by_ref() {
        match c {
            Ok(c) => {
                c.validate().unwrap();
                rows += c.len();
            }
            Err(e) => return (rows, Some(e.to_string())),
        }
    }
    (rows, None)
}

fn options() -> impl Strategy<Value = ReadOptions> {
    (
        any::<bool>(),
        1usize..12,
        prop_oneof![Just(hinet_data::DEFAULT_MAX_RECORD_BYTES), 64usize..4096],
        prop_oneof![Just(hinet_data::DEFAULT_MAX_FIELD_BYTES), 8usize..1024],
        prop_oneof![Just(hinet_data::DEFAULT_MAX_RECORD_LINES), 1usize..6],
        any::<bool>(),
    )
        .prop_map(
            |(skip, chunk_rows, max_record_bytes, max_field_bytes, max_record_lines, labels_optional)| ReadOptions {
                skip_bad_rows: skip,
                chunk_rows,
                queue_chunks: 1,
                max_examples: 3,
                labels_optional,
                max_record_bytes,
                max_field_bytes,
                max_record_lines,
            },
        )
}

/// (file name, delimiter)
fn format() -> impl Strategy<Value = (&'static str, u8)> {
    proptest::sample::select(
        &[
            ("m.csv", b','),
            ("m.csv.gz", b','),
            ("m.tsv", b'\t'),
            ("m.tsv.gz", b'\t'),
        ][..],
    )
}

proptest! {
    #![proptest_config(config())]

    /// Mutated files: `load` and `stream` agree, and every outcome is a consistent dataset or
    /// a typed error naming the file.
    #[test]
    fn mutated_csv_is_read_or_rejected_never_a_panic(
        rows in 1usize..25,
        (name, delim) in format(),
        multiline in any::<bool>(),
        mutations in proptest::collection::vec(mutation(), 0..6),
        opt in options(),
    ) {
        let mut bytes = valid_csv(rows, delim, multiline);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), name, &bytes);
        let files = [InputFile::new(&p)];
        let s = schema();
        let loaded = load(&s, &files, &opt);
        let (streamed, stream_err) = drain(&s, &files, &opt);
        match &loaded {
            Ok(l) => {
                prop_assert!(l.data.validate().is_ok());
                prop_assert_eq!(l.data.len() as u64, l.report.rows_read);
                prop_assert_eq!(streamed, l.data.len());
                prop_assert_eq!(stream_err, None);
                prop_assert!(l.report.examples.len() <= opt.max_examples);
                prop_assert!(opt.skip_bad_rows || l.report.rows_skipped == 0);
                for e in &l.report.examples {
                    let is_row_after_header = matches!(e, DataError::Row { line, .. } if *line >= 2);
                    prop_assert!(is_row_after_header, "{}", e);
                }
                // Warnings never fail, whatever the values.
                let _ = l.report.dense_range_warnings(None, hinet_data::DENSE_WARN_ABS);
                let _ = l.data.dense_range_warnings(hinet_data::DENSE_WARN_ABS);
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(&p.display().to_string()), "{}", msg);
                prop_assert_eq!(stream_err.as_deref(), Some(msg.as_str()));
                if opt.skip_bad_rows {
                    prop_assert!(e.row_kind().is_none(), "skipped rows never stop a read: {}", msg);
                }
                let typed = matches!(
                    e,
                    DataError::Row { .. }
                        | DataError::Structure { .. }
                        | DataError::Header { .. }
                        | DataError::EmptyFile { .. }
                        | DataError::Io { .. }
                );
                prop_assert!(typed, "{:?}", e);
            }
        }
    }

    /// A run longer than the field (bytes without delimiter) or record (delimiters) bound,
    /// inserted anywhere in a valid file, is the structural error naming the run's line, on
    /// every path and in skip mode too: memory stays within the bounds.
    #[test]
    fn an_over_long_field_or_record_is_always_the_structural_error_at_its_line(
        rows in 1usize..20,
        (name, delim) in format(),
        at in any::<Index>(),
        field_run in any::<bool>(),
        extra in 1usize..3000,
        max_field_bytes in 16usize..512,
        max_record_bytes in 1024usize..4096,
        skip in any::<bool>(),
    ) {
        let mut bytes = valid_csv(rows, delim, false);
        // Not inside the final line end: the run must be part of a record.
        let k = at.index(bytes.len());
        // One bound at a time: a run of delimiters inside a quoted field is one long field.
        let (byte, n, bound, max_field_bytes, max_record_bytes) = if field_run {
            (b'x', max_field_bytes + extra, "max_field_bytes", max_field_bytes, hinet_data::DEFAULT_MAX_RECORD_BYTES)
        } else {
            (delim, max_record_bytes + extra, "max_record_bytes", hinet_data::DEFAULT_MAX_FIELD_BYTES, max_record_bytes)
        };
        bytes.splice(k..k, std::iter::repeat_n(byte, n));
        let line = 1 + bytes[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), name, &bytes);
        let opt = ReadOptions {
            skip_bad_rows: skip,
            chunk_rows: 4,
            max_field_bytes,
            max_record_bytes,
            ..ReadOptions::default()
        };
        let files = [InputFile::new(&p)];
        let e = load(&schema(), &files, &opt).unwrap_err();
        let is_structure_at_line = matches!(&e, DataError::Structure { line: l, .. } if *l == line);
        prop_assert!(is_structure_at_line, "line {}: {}", line, e);
        prop_assert!(e.to_string().contains(bound), "{}", e);
        let (streamed, err) = drain(&schema(), &files, &opt);
        prop_assert_eq!(err, Some(e.to_string()));
        prop_assert!(streamed as u64 <= line.saturating_sub(2));
    }
}

const SCHEMA_TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "'''",
    "=",
    "\n",
    "{",
    "}",
    ",",
    "#",
    "\\u0000",
    "\u{feff}",
    "é",
    "vocab = 99999999999999999999\n",
    "vocab = -1\n",
    "vocab = \"auto\"\n",
    "hash_buckets = 0\n",
    "normalize = \"bogus\"\n",
    "delimiter = \"é\"\n",
    "delimiter = \"\\t\"\n",
    "scenarios = []\n",
    "scenario_names = [\"x\"]\n",
    "oracle_columns = [\"p\"]\n",
    "split_key = [\"user\", \"user\"]\n",
    "[[sparse]]\ncolumn = \"user\"\nvocab = 3\n",
    "[[dense]]\ncolumn = \"raw\"\n",
    "[[files]]\npath = \"/dev/zero\"\n",
    "labels = \"positive\"\n",
];

#[derive(Debug, Clone)]
enum TextMutation {
    Insert(Index, &'static str),
    Delete(Index, usize),
    Replace(Index, char),
    Nest(Index, usize),
}

fn text_mutation() -> impl Strategy<Value = TextMutation> {
    prop_oneof![
        4 => (any::<Index>(), proptest::sample::select(SCHEMA_TOKENS)).prop_map(|(i, t)| TextMutation::Insert(i, t)),
        2 => (any::<Index>(), 1usize..30).prop_map(|(i, n)| TextMutation::Delete(i, n)),
        2 => (any::<Index>(), any::<char>()).prop_map(|(i, c)| TextMutation::Replace(i, c)),
        1 => (any::<Index>(), 1usize..3000).prop_map(|(i, n)| TextMutation::Nest(i, n)),
    ]
}

fn mutate_text(text: &str, ms: &[TextMutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in ms {
        match m {
            TextMutation::Insert(i, t) => {
                let k = i.index(chars.len() + 1);
                chars.splice(k..k, t.chars());
            }
            TextMutation::Delete(i, n) => {
                let k = i.index(chars.len() + 1);
                let end = (k + n).min(chars.len());
                chars.drain(k..end);
            }
            TextMutation::Replace(i, c) if !chars.is_empty() => {
                let k = i.index(chars.len());
                chars[k] = *c;
            }
            TextMutation::Replace(..) => {}
            TextMutation::Nest(i, n) => {
                let k = i.index(chars.len() + 1);
                let nest: String = "x = ".chars().chain(std::iter::repeat_n('[', *n)).collect();
                chars.splice(k..k, nest.chars());
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(config())]

    /// Mutated schema text: parsed and valid (and then it round-trips and reads a file without
    /// a panic), or a typed error; also as a file of raw (possibly invalid UTF-8) bytes.
    #[test]
    fn mutated_schema_toml_is_parsed_or_rejected_never_a_panic(
        mutations in proptest::collection::vec(text_mutation(), 0..5),
        flips in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..3),
    ) {
        let text = mutate_text(SCHEMA, &mutations);
        match Schema::from_toml_str(&text) {
            Ok(s) => {
                prop_assert!(s.validate().is_ok());
                let again = Schema::from_toml_str(&s.to_toml_string().unwrap());
                prop_assert_eq!(again.ok(), Some(s.clone()));
                let dir = tempfile::tempdir().unwrap();
                let p = write(dir.path(), "f.csv", &valid_csv(5, b',', true));
                // Files named by the schema are not read here (one may be /dev/zero ...).
                let _ = load(&s, &[InputFile::new(&p)], &ReadOptions::default());
                if !s.has_auto_vocab() {
                    let _ = drain(&s, &[InputFile::new(&p)], &ReadOptions::skipping(true));
                }
            }
            Err(e) => {
                let typed = matches!(e, DataError::SchemaToml { .. } | DataError::Config(_));
                prop_assert!(typed, "{:?}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        let mut bytes = text.into_bytes();
        for (i, x) in &flips {
            if !bytes.is_empty() {
                let k = i.index(bytes.len());
                bytes[k] ^= x | 0x80;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.toml", &bytes);
        if let Err(e) = Schema::from_toml_file(&p) {
            let typed = matches!(e, DataError::SchemaToml { .. } | DataError::Config(_) | DataError::Io { .. });
            prop_assert!(typed, "{:?}", e);
        }
    }
}
