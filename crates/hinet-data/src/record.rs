//! A bounded CSV/TSV record reader.
//!
//! It reads the same dialect the `csv` crate reads by default (RFC 4180 quoting with `""` as an
//! escaped quote, `\n`, `\r\n` or `\r` line ends, blank lines skipped, every field trimmed of
//! ASCII whitespace), but every resource it spends is bounded, and it says where the structure
//! of a file breaks:
//!
//! - a record is at most [`Limits::record_bytes`] bytes and a field at most
//!   [`Limits::field_bytes`] bytes: the buffers never grow beyond that, whatever the input (a
//!   file without a line end, `/dev/zero`);
//! - a record spans at most [`Limits::record_lines`] physical lines (a quoted field may hold line
//!   breaks, but an unbalanced quote would otherwise swallow the rest of the file);
//! - a quote still open at the end of the input is an error naming the line where it opened.
//!
//! These errors are structural: after them the reader cannot know where the next record starts,
//! so they end the read (even in skip mode).

use std::io::{self, BufRead};
use std::path::Path;

use crate::error::DataError;

/// Most header columns stored (a header is also bounded by the record size).
pub(crate) const MAX_COLUMNS: usize = 1 << 20;

/// The bounds of one record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) record_bytes: usize,
    pub(crate) field_bytes: usize,
    pub(crate) record_lines: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records (blank lines are skipped here).
    StartRecord,
    /// At the first byte of a field.
    StartField,
    /// In an unquoted field (or after the closing quote of a quoted one).
    InField,
    /// In a quoted field.
    InQuoted,
    /// Just after a quote inside a quoted field: `""` (an escaped quote) or the closing quote.
    QuoteInQuoted,
}

/// Why a file's structure cannot be read further (converted into a [`DataError`] with names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// The input ended inside a quoted field.
    UnclosedQuote { field: usize, quote_line: u64 },
    /// The record spans more than `Limits::record_lines` lines.
    TooManyLines { field: usize, quote_line: u64 },
    /// The record is longer than `Limits::record_bytes`.
    RecordTooLong { field: usize, in_quote: Option<u64> },
    /// A field is longer than `Limits::field_bytes`.
    FieldTooLong { field: usize, in_quote: Option<u64> },
}

/// The parser proper, fed with byte slices; the reader around it owns the input.
struct Parser {
    delimiter: u8,
    limits: Limits,
    state: State,
    /// The physical line of the next byte (1-based).
    line: u64,
    /// The last byte was a `\r`: a `\n` right after it ends the same line.
    pending_cr: bool,
    /// The current record's fields, concatenated (only the stored ones).
    buf: Vec<u8>,
    /// End offset in `buf` of each stored field.
    ends: Vec<usize>,
    /// Fields ended so far in the current record (may exceed the stored ones).
    fields: usize,
    /// Store at most this many fields (the rest are only counted).
    max_stored: usize,
    /// Bytes of the current field (stored or not).
    field_len: usize,
    /// Raw bytes of the current record.
    record_bytes: usize,
    /// Line where the current record starts.
    record_line: u64,
    /// Line where the current quoted field's quote opened.
    quote_line: u64,
}

impl Parser {
    fn in_quote(&self) -> Option<u64> {
        matches!(self.state, State::InQuoted | State::QuoteInQuoted).then_some(self.quote_line)
    }

    /// Counts raw bytes of the record.
    fn count(&mut self, n: usize) -> Result<(), Broken> {
        self.record_bytes = self.record_bytes.saturating_add(n);
        if self.record_bytes > self.limits.record_bytes {
            return Err(Broken::RecordTooLong {
                field: self.fields,
                in_quote: self.in_quote(),
            });
        }
        Ok(())
    }

    /// A line-end byte was consumed (inside a quoted field or as the end of a record/blank line).
    fn newline(&mut self, b: u8) {
        if b == b'\n' && self.pending_cr {
            self.pending_cr = false;
        } else {
            self.line += 1;
            self.pending_cr = b == b'\r';
        }
    }

    /// Appends bytes (none of them a line end) to the current field.
    fn take(&mut self, bytes: &[u8]) -> Result<(), Broken> {
        self.pending_cr = false;
        self.count(bytes.len())?;
        self.field_len = self.field_len.saturating_add(bytes.len());
        if self.field_len > self.limits.field_bytes {
            return Err(Broken::FieldTooLong {
                field: self.fields,
                in_quote: self.in_quote(),
            });
        }
        if self.fields < self.max_stored {
            let need = self.buf.len() + bytes.len();
            if need > self.buf.capacity() {
                // Grow geometrically, but never past the record bound (need is within it: the
                // stored bytes are part of the record's bytes, counted above).
                let target = need
                    .max(self.buf.capacity() * 2)
                    .min(self.limits.record_bytes.max(need));
                self.buf.reserve_exact(target - self.buf.len());
            }
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// A line end inside a quoted field: part of the field, and one more line of the record.
    fn quoted_newline(&mut self, b: u8) -> Result<(), Broken> {
        self.newline(b);
        let was_cr = self.pending_cr;
        self.take(&[b])?;
        self.pending_cr = was_cr;
        if self.line - self.record_line + 1 > self.limits.record_lines as u64 {
            return Err(Broken::TooManyLines {
                field: self.fields,
                quote_line: self.quote_line,
            });
        }
        Ok(())
    }

    fn end_field(&mut self) {
        if self.fields < self.max_stored {
            self.ends.push(self.buf.len());
        }
        self.fields += 1;
        self.field_len = 0;
    }

    fn begin_record(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.fields = 0;
        self.field_len = 0;
        self.record_bytes = 0;
        self.record_line = self.line;
        self.state = State::StartField;
    }

    /// Parses from `input`; returns the bytes consumed and whether a record ended there.
    fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Broken> {
        let d = self.delimiter;
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::StartRecord => {
                    let b = input[i];
                    if b == b'\n' || b == b'\r' {
                        // A blank line (or the `\n` of a `\r\n`).
                        self.newline(b);
                        i += 1;
                    } else {
                        self.begin_record();
                    }
                }
                State::StartField => {
                    if input[i] == b'"' {
                        self.pending_cr = false;
                        self.count(1)?;
                        self.quote_line = self.line;
                        self.state = State::InQuoted;
                        i += 1;
                    } else {
                        self.state = State::InField;
                    }
                }
                State::InField => {
                    let rest = &input[i..];
                    let n = rest
                        .iter()
                        .position(|&b| b == d || b == b'\n' || b == b'\r')
                        .unwrap_or(rest.len());
                    if n > 0 {
                        self.take(&rest[..n])?;
                        i += n;
                        continue;
                    }
                    let b = rest[0];
                    i += 1;
                    self.count(1)?;
                    self.end_field();
                    if b == d {
                        self.pending_cr = false;
                        self.state = State::StartField;
                    } else {
                        self.newline(b);
                        self.state = State::StartRecord;
                        return Ok((i, true));
                    }
                }
                State::InQuoted => {
                    let rest = &input[i..];
                    let n = rest
                        .iter()
                        .position(|&b| b == b'"' || b == b'\n' || b == b'\r')
                        .unwrap_or(rest.len());
                    if n > 0 {
                        self.take(&rest[..n])?;
                        i += n;
                        continue;
                    }
                    let b = rest[0];
                    i += 1;
                    if b == b'"' {
                        self.pending_cr = false;
                        self.count(1)?;
                        self.state = State::QuoteInQuoted;
                    } else {
                        self.quoted_newline(b)?;
                    }
                }
                State::QuoteInQuoted => {
                    let b = input[i];
                    if b == b'"' {
                        // `""`: one literal quote (the second quote byte is counted by take).
                        self.state = State::InQuoted;
                        self.take(b"\"")?;
                        i += 1;
                    } else {
                        // The closing quote. A delimiter or line end after it ends the field
                        // as usual; other text after it is kept, as the csv crate does.
                        self.state = State::InField;
                    }
                }
            }
        }
        Ok((i, false))
    }

    /// The input ended: completes the last record, if any.
    fn finish(&mut self) -> Result<bool, Broken> {
        match self.state {
            State::StartRecord => Ok(false),
            State::InQuoted => Err(Broken::UnclosedQuote {
                field: self.fields,
                quote_line: self.quote_line,
            }),
            State::StartField | State::InField | State::QuoteInQuoted => {
                self.end_field();
                self.state = State::StartRecord;
                Ok(true)
            }
        }
    }
}

/// Reads records from one input, within [`Limits`].
pub(crate) struct RecordReader {
    src: Box<dyn BufRead + Send>,
    p: Parser,
    /// The file as the user wrote it, for messages.
    name: String,
    /// Column names once the header is known (for messages).
    names: Vec<String>,
    /// A structural error or the end was met: nothing more is read.
    stopped: bool,
    /// Records read so far (the first is the header).
    records: u64,
}

impl RecordReader {
    pub(crate) fn new(mut src: Box<dyn BufRead + Send>, name: String, delimiter: u8, limits: Limits) -> Self {
        // A UTF-8 byte-order mark (Excel writes one) would otherwise be part of the first name.
        if let Ok(b) = src.fill_buf()
            && b.starts_with(b"\xEF\xBB\xBF")
        {
            src.consume(3);
        }
        RecordReader {
            src,
            p: Parser {
                delimiter,
                limits,
                state: State::StartRecord,
                line: 1,
                pending_cr: false,
                buf: Vec::new(),
                ends: Vec::new(),
                fields: 0,
                max_stored: MAX_COLUMNS,
                field_len: 0,
                record_bytes: 0,
                record_line: 1,
                quote_line: 1,
            },
            name,
            names: Vec::new(),
            stopped: false,
            records: 0,
        }
    }

    /// Sets the header's names (for messages); later records store at most one field more than
    /// the header has (enough to tell that a record has too many).
    pub(crate) fn set_header(&mut self, names: Vec<String>) {
        self.p.max_stored = names.len() + 1;
        self.names = names;
    }

    /// Reads the next record; `Ok(false)` at the end of the input.
    pub(crate) fn next_record(&mut self) -> Result<bool, DataError> {
        if self.stopped {
            return Ok(false);
        }
        let r = self.read();
        match r {
            Ok(true) => self.records += 1,
            _ => self.stopped = true,
        }
        r
    }

    fn read(&mut self) -> Result<bool, DataError> {
        loop {
            let input = match self.src.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let why = format!("reading line {}: {e}", self.p.line);
                    return Err(DataError::Io {
                        path: Path::new(&self.name).into(),
                        source: io::Error::new(e.kind(), why),
                    });
                }
            };
            if input.is_empty() {
                return self.p.finish().map_err(|b| self.broken(b));
            }
            let fed = self.p.feed(input);
            match fed {
                Ok((n, done)) => {
                    self.src.consume(n);
                    if done {
                        return Ok(true);
                    }
                }
                Err(b) => return Err(self.broken(b)),
            }
        }
    }

    /// Number of fields of the current record.
    pub(crate) fn len(&self) -> usize {
        self.p.fields
    }

    /// Field `i` of the current record, trimmed of ASCII whitespace; empty if not stored.
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let Some(&end) = self.p.ends.get(i) else {
            return &[];
        };
        let start = if i == 0 { 0 } else { self.p.ends[i - 1] };
        self.p.buf[start..end].trim_ascii()
    }

    /// The fields stored of the current record.
    pub(crate) fn stored(&self) -> usize {
        self.p.ends.len()
    }

    /// The line where the current record starts.
    pub(crate) fn start_line(&self) -> u64 {
        self.p.record_line
    }

    /// The last line of the current record (after the read: the line of its last byte).
    pub(crate) fn end_line(&self) -> u64 {
        // `line` is the line of the next byte: one past the record's line end, if it had one.
        if self.p.line > self.p.record_line && self.p.state == State::StartRecord {
            self.p.line - 1
        } else {
            self.p.line
        }
    }

    /// Capacity of the record buffer (for tests of the memory bound).
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.p.buf.capacity()
    }

    fn column(&self, field: usize) -> String {
        match self.names.get(field) {
            Some(n) => format!("column \"{n}\""),
            None if self.records == 0 => format!("field {} of the header", field + 1),
            None if self.names.is_empty() => format!("field {}", field + 1),
            None => format!("field {} (the header has {} columns)", field + 1, self.names.len()),
        }
    }

    fn broken(&self, b: Broken) -> DataError {
        const STOP: &str = "the read stops here, even with skip_bad_rows: past a broken record the reader \
                            cannot tell where the next one starts";
        let l = &self.p.limits;
        let start = self.p.record_line;
        let quote_note = |q: Option<u64>| match q {
            Some(q) => format!(" (inside a quoted field whose quote opened on line {q} and is still open)"),
            None => String::new(),
        };
        let (line, why) = match b {
            Broken::UnclosedQuote { field, quote_line } => (
                quote_line,
                format!(
                    "{}: the quote opened on line {quote_line} is never closed: the rest of the file \
                     (lines {quote_line}-{}) would be one field{}; {STOP}",
                    self.column(field),
                    self.p.line.max(quote_line),
                    if start != quote_line {
                        format!(" (of the record starting on line {start})")
                    } else {
                        String::new()
                    }
                ),
            ),
            Broken::TooManyLines { field, quote_line } => (
                start,
                format!(
                    "the record starting on line {start} spans more than {} lines (ReadOptions::max_record_lines): \
                     {} opens a quote on line {quote_line} that is still open on line {}, most likely an \
                     unbalanced quote; {STOP}",
                    l.record_lines,
                    self.column(field),
                    self.p.line
                ),
            ),
            Broken::RecordTooLong { field, in_quote } => (
                start,
                format!(
                    "the record starting on line {start} is longer than {} bytes (ReadOptions::max_record_bytes), \
                     reached in {}{}; {STOP}",
                    l.record_bytes,
                    self.column(field),
                    quote_note(in_quote)
                ),
            ),
            Broken::FieldTooLong { field, in_quote } => (
                start,
                format!(
                    "{}: a field longer than {} bytes (ReadOptions::max_field_bytes){}; {STOP}",
                    self.column(field),
                    l.field_bytes,
                    quote_note(in_quote)
                ),
            ),
        };
        DataError::Structure {
            file: self.name.clone(),
            line,
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const LIMITS: Limits = Limits {
        record_bytes: 1 << 16,
        field_bytes: 1 << 12,
        record_lines: 8,
    };

    fn reader(bytes: &'static [u8], limits: Limits) -> RecordReader {
        RecordReader::new(Box::new(bytes), "t.csv".into(), b',', limits)
    }

    /// All records as (line, fields), or the error message.
    fn records(bytes: &'static [u8]) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut r = reader(bytes, LIMITS);
        let mut out = Vec::new();
        while r.next_record().map_err(|e| e.to_string())? {
            let f = (0..r.len())
                .map(|i| String::from_utf8_lossy(r.get(i)).into_owned())
                .collect();
            out.push((r.start_line(), f));
        }
        Ok(out)
    }

    fn rec(line: u64, f: &[&str]) -> (u64, Vec<String>) {
        (line, f.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn reads_the_csv_dialect() {
        let got = records(b"\xEF\xBB\xBFa,b\r\n\n 1 ,\"x,\"\"y\"\"\" \r\"p\nq\",z\rlast,\n").unwrap();
        assert_eq!(
            got,
            vec![
                rec(1, &["a", "b"]),
                rec(3, &["1", "x,\"y\""]),
                rec(4, &["p\nq", "z"]),
                rec(6, &["last", ""]),
            ]
        );
        // No final line end; text after a closing quote is kept; quotes inside a field are literal.
        assert_eq!(records(b"\"ab\"cd,e\"f").unwrap(), vec![rec(1, &["abcd", "e\"f"])]);
        assert_eq!(records(b"").unwrap(), vec![]);
        assert_eq!(records(b"\n\r\n").unwrap(), vec![]);
    }

    #[test]
    fn unclosed_quote_names_the_line_it_opened_on() {
        let e = records(b"a,b\n1,2\n3,\"oops\n4,5\n").unwrap_err();
        assert!(
            e.starts_with("t.csv:3: field 2: the quote opened on line 3 is never closed"),
            "{e}"
        );
        assert!(e.contains("even with skip_bad_rows"), "{e}");
    }

    #[test]
    fn a_record_of_too_many_lines_is_an_error_naming_its_first_line() {
        let mut body = b"a,b\n1,\"".to_vec();
        body.extend(std::iter::repeat_n(b"x\n".as_slice(), 20).flatten());
        body.extend(b"\"\n");
        let body: &'static [u8] = body.leak();
        let e = records(body).unwrap_err();
        assert!(
            e.starts_with("t.csv:2: the record starting on line 2 spans more than 8 lines"),
            "{e}"
        );
        // Seven line breaks inside quotes: eight lines, allowed.
        let mut ok = b"a,b\n1,\"".to_vec();
        ok.extend(std::iter::repeat_n(b"x\n".as_slice(), 7).flatten());
        ok.extend(b"\"\n9,9\n");
        let got = records(ok.leak()).unwrap();
        assert_eq!(got[2].0, 10);
    }

    #[test]
    fn an_endless_line_is_bounded() {
        // An infinite input without a line end (like /dev/zero) stops at the field bound ...
        let mut r = RecordReader::new(Box::new(io::BufReader::new(io::repeat(0))), "zero".into(), b',', LIMITS);
        let e = r.next_record().unwrap_err().to_string();
        assert!(
            e.starts_with("zero:1: field 1 of the header: a field longer than 4096 bytes"),
            "{e}"
        );
        assert!(r.buffer_capacity() <= LIMITS.field_bytes, "{}", r.buffer_capacity());
        assert!(!r.next_record().unwrap());
        // ... and one of many short fields at the record bound, without storing beyond it.
        let mut r = RecordReader::new(
            Box::new(io::BufReader::new(io::repeat(b',').take(1 << 20))),
            "commas".into(),
            b',',
            LIMITS,
        );
        let e = r.next_record().unwrap_err().to_string();
        assert!(
            e.starts_with("commas:1: the record starting on line 1 is longer than 65536 bytes"),
            "{e}"
        );
        assert!(r.buffer_capacity() <= LIMITS.record_bytes);
        let mut r = RecordReader::new(
            Box::new(io::BufReader::new(io::repeat(b'7').take(1 << 20))),
            "sevens".into(),
            b',',
            Limits {
                record_bytes: 10_000,
                field_bytes: 1 << 20,
                record_lines: 8,
            },
        );
        assert!(r.next_record().is_err());
        assert!(r.buffer_capacity() <= 10_000, "{}", r.buffer_capacity());
    }

    #[test]
    fn records_wider_than_the_header_are_counted_not_stored() {
        let mut r = reader(b"a,b\n1,2,3,4,5,6\n", LIMITS);
        assert!(r.next_record().unwrap());
        r.set_header(vec!["a".into(), "b".into()]);
        assert!(r.next_record().unwrap());
        assert_eq!(r.len(), 6);
        assert_eq!(r.stored(), 3);
        assert_eq!(r.get(5), b"");
        assert_eq!(r.end_line(), 2);
    }

    /// The csv crate's records for `bytes` (fields trimmed), with their start lines.
    fn csv_crate(bytes: &[u8]) -> Records {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap_or(false) {
            let line = rec.position().map_or(0, |p| p.line());
            out.push((line, rec.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    /// Records as (start line, fields).
    type Records = Vec<(u64, Vec<Vec<u8>>)>;

    /// The reader's records, its error if any, and the largest capacity its buffer reached.
    fn ours(bytes: &[u8], limits: Limits) -> (Records, Option<DataError>, usize) {
        let mut r = RecordReader::new(Box::new(io::Cursor::new(bytes.to_vec())), "p.csv".into(), b',', limits);
        let mut out = Vec::new();
        let mut cap = 0;
        let err = loop {
            match r.next_record() {
                Ok(true) => {
                    cap = cap.max(r.buffer_capacity());
                    out.push((r.start_line(), (0..r.len()).map(|i| r.get(i).to_vec()).collect()));
                }
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        (out, err, cap.max(r.buffer_capacity()))
    }

    fn bytes_from(alphabet: &'static [&'static [u8]]) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(proptest::sample::select(alphabet), 0..300).prop_map(|parts| parts.concat())
    }

    const ALPHABET: &[&[u8]] = &[
        b"a", b"bc", b"7", b",", b",", b"\"", b"\"", b"\"\"", b"\n", b"\n", b"\r\n", b" ", b"\t", b"\xff", b"\0",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 256,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_da7a),
            ..Default::default()
        })]

        /// Whatever the bytes, the reader agrees with the csv crate wherever it accepts them,
        /// and it rejects them only for a quote left open at the end. Lines are compared when
        /// there is no `\r` and no blank line: the csv crate takes a record's position before
        /// it skips the `\n` of a `\r\n` or blank lines, so it gives such a record an earlier
        /// line (`"\na"` has `a` on line 1); this reader gives the line of its first byte
        /// (`reads_the_csv_dialect` checks those cases).
        #[test]
        fn agrees_with_the_csv_crate(bytes in bytes_from(ALPHABET)) {
            let big = Limits { record_bytes: 1 << 20, field_bytes: 1 << 20, record_lines: 1 << 20 };
            let (mut got, err, _) = ours(&bytes, big);
            let mut want = csv_crate(&bytes);
            if bytes.contains(&b'\r') || bytes.first() == Some(&b'\n') || bytes.windows(2).any(|w| w == b"\n\n") {
                got.iter_mut().for_each(|r| r.0 = 0);
                want.iter_mut().for_each(|r| r.0 = 0);
            }
            match err {
                None => proptest::prop_assert_eq!(got, want),
                Some(e) => {
                    let DataError::Structure { line, why, .. } = &e else {
                        return Err(proptest::test_runner::TestCaseError::fail(format!("{e}")));
                    };
                    proptest::prop_assert!(why.contains("is never closed"), "{}", e);
                    // Everything before the broken record agrees.
                    proptest::prop_assert_eq!(&got[..], &want[..got.len()]);
                    // The quote opened at or after the last complete record's line.
                    proptest::prop_assert!(got.last().is_none_or(|r| r.0 <= *line));
                }
            }
        }

        /// With small bounds, every outcome is records or a structural error, and the record
        /// buffer never grows past the record bound.
        #[test]
        fn small_bounds_hold(
            bytes in bytes_from(&[b"a", b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", b",", b"\"", b"\n", b"\r", b"\r\n"]),
            record_bytes in 1usize..200,
            field_bytes in 1usize..100,
            record_lines in 1usize..6,
        ) {
            let limits = Limits { record_bytes, field_bytes, record_lines };
            let (got, err, cap) = ours(&bytes, limits);
            proptest::prop_assert!(cap <= record_bytes, "capacity {} > {}", cap, record_bytes);
            for (_, fields) in &got {
                proptest::prop_assert!(fields.iter().all(|f| f.len() <= field_bytes));
                proptest::prop_assert!(fields.iter().map(Vec::len).sum::<usize>() <= record_bytes);
            }
            if let Some(e) = err {
                proptest::prop_assert!(matches!(e, DataError::Structure { .. }), "{}", e);
            }
        }
    }
}
