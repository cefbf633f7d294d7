//! Writes a dataset as CSV plus a schema TOML that reads it back (`hinet gen-data`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::normalize::Normalize;
use crate::schema::{DenseColumn, InputFile, LabelRule, Schema, SparseColumn, TaskColumn};

/// The schema describing what [`write_csv`] writes for `data`, with `file` as its one input file.
/// Columns: `scenario` (the scenario's name), the sparse fields (integer ids), the dense
/// columns, one label column per task and, with an oracle, `oracle_<task>` columns.
pub fn schema_for(data: &Dataset, name: &str, file: impl Into<PathBuf>) -> Schema {
    let spec = &data.spec;
    Schema {
        name: name.to_string(),
        delimiter: None,
        scenarios: spec.scenarios.clone(),
        scenario_names: Vec::new(),
        scenario_column: Some("scenario".into()),
        tasks: spec
            .tasks
            .iter()
            .map(|t| TaskColumn {
                name: t.clone(),
                column: None,
            })
            .collect(),
        labels: LabelRule::Binary,
        sparse: spec
            .sparse
            .iter()
            .map(|f| SparseColumn::ids(f.name.clone(), f.vocab))
            .collect(),
        dense: spec
            .dense
            .iter()
            .zip(&data.dense_normalize)
            .map(|(c, &n)| DenseColumn::new(c.clone(), if data.dense_normalized { Normalize::None } else { n }))
            .collect(),
        split_key: Vec::new(),
        oracle_columns: match data.oracle {
            Some(_) => spec.tasks.iter().map(|t| format!("oracle_{t}")).collect(),
            None => Vec::new(),
        },
        files: vec![InputFile::new(file)],
    }
}

/// Writes `data` to `csv_path` (gzip-compressed if it ends in `.gz`) and, if `schema_path` is
/// given, the schema TOML that reads it back (its file entry relative to the TOML's folder when
/// both are in the same folder). Returns that schema (with `csv_path` as its file).
pub fn write_csv(data: &Dataset, csv_path: &Path, schema_path: Option<&Path>) -> Result<Schema, DataError> {
    data.validate()?;
    let io = |e: std::io::Error| DataError::Io {
        path: csv_path.into(),
        source: e,
    };
    let file = File::create(csv_path).map_err(io)?;
    let schema = schema_for(data, "", csv_path);
    if csv_path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
        let gz = write_rows(gz, data, &schema, csv_path)?;
        // finish() writes the gzip trailer and reports errors that a drop would swallow.
        gz.finish().map_err(io)?.flush().map_err(io)?;
    } else {
        write_rows(BufWriter::new(file), data, &schema, csv_path)?
            .flush()
            .map_err(io)?;
    }

    if let Some(sp) = schema_path {
        let mut out = schema.clone();
        let same_dir = csv_path.parent().unwrap_or(Path::new("")) == sp.parent().unwrap_or(Path::new(""));
        if same_dir && let Some(name) = csv_path.file_name() {
            out.files = vec![InputFile::new(name)];
        }
        out.name = sp
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = out.to_toml_string()?;
        std::fs::write(sp, text).map_err(|e| DataError::Io {
            path: sp.into(),
            source: e,
        })?;
    }
    Ok(schema)
}

fn write_rows<W: Write>(sink: W, data: &Dataset, schema: &Schema, csv_path: &Path) -> Result<W, DataError> {
    let csv_err = |e: csv::Error| DataError::Io {
        path: csv_path.into(),
        source: std::io::Error::other(e),
    };
    let mut w = csv::Writer::from_writer(sink);
    let mut header: Vec<String> = vec!["scenario".into()];
    header.extend(schema.sparse.iter().map(|s| s.column.clone()));
    header.extend(schema.dense.iter().map(|s| s.column.clone()));
    header.extend(schema.tasks.iter().map(|t| t.name.clone()));
    header.extend(schema.oracle_columns.iter().cloned());
    w.write_record(&header).map_err(csv_err)?;

    let (f, d, t) = (data.spec.sparse.len(), data.spec.dense.len(), data.spec.tasks.len());
    let mut buf = String::new();
    for r in 0..data.len() {
        use std::fmt::Write as _;
        w.write_field(&data.spec.scenarios[data.scenario[r] as usize])
            .map_err(csv_err)?;
        for id in &data.sparse[r * f..(r + 1) * f] {
            buf.clear();
            let _ = write!(buf, "{id}");
            w.write_field(&buf).map_err(csv_err)?;
        }
        // Display of f32 is the shortest text that reads back to the same value.
        for x in &data.dense[r * d..(r + 1) * d] {
            buf.clear();
            let _ = write!(buf, "{x}");
            w.write_field(&buf).map_err(csv_err)?;
        }
        for y in &data.labels[r * t..(r + 1) * t] {
            w.write_field(if *y > 0.5 { "1" } else { "0" }).map_err(csv_err)?;
        }
        if let Some(o) = &data.oracle {
            for p in &o[r * t..(r + 1) * t] {
                buf.clear();
                let _ = write!(buf, "{p}");
                w.write_field(&buf).map_err(csv_err)?;
            }
        }
        w.write_record(None::<&[u8]>).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| DataError::Io {
        path: csv_path.into(),
        source: std::io::Error::other(e.to_string()),
    })
}
