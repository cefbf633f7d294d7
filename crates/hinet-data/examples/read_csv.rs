//! Reads your own CSV: writes a small file and its schema into a temporary folder, loads them
//! (first stopping at a bad row, then skipping it), and prints the rows, the scenarios and a
//! batch as a model receives it.
//!
//! `cargo run --release -p hinet-data --example read_csv`

use std::path::{Path, PathBuf};

use hinet_data::{Batch, DataError, ReadOptions, Schema, load};

/// Two scenarios (the page a user saw), two tasks (click, order), an integer id, a string
/// hashed into buckets and a price. Line 6 has a price that is not a number.
const CSV: &str = "\
page,user_id,item,price,clicked,ordered
home,3,red shoes,19.90,1,0
search,0,blue hat,5.00,0,0
home,1,red shoes,19.90,1,1
search,3,green scarf,12.50,1,0
home,2,blue hat,about five,0,0
search,1,red shoes,19.90,0,0
home,0,green scarf,12.50,0,0
";

const SCHEMA: &str = r#"
name = "toy-shop"
scenarios = ["home", "search"]
scenario_names = ["home page", "search results"]
scenario_column = "page"

[[tasks]]
name = "ctr"
column = "clicked"

[[tasks]]
name = "ctcvr"
column = "ordered"

[[sparse]]
column = "user_id"
vocab = "auto"

[[sparse]]
column = "item"
hash_buckets = 64

[[dense]]
column = "price"
normalize = "log1p"

[[files]]
path = "shop.csv"
"#;

/// A fresh folder under the system's temporary directory, unique to this process.
fn scratch_folder() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hinet-data-read-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_folder()?;
    let result = run(&dir);
    // Clean up whether or not reading worked.
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write(dir.join("shop.csv"), CSV)?;
    std::fs::write(dir.join("shop.toml"), SCHEMA)?;
    // Relative file paths in a schema are relative to the schema file's folder.
    let schema = Schema::from_toml_file(dir.join("shop.toml"))?;

    // By default the first bad row stops the read, naming file, line and column.
    match load(&schema, &schema.files, &ReadOptions::default()) {
        Err(e @ DataError::Row { .. }) => println!("strict read stopped: {e}\n"),
        other => return Err(format!("expected a bad-row error, got {other:?}").into()),
    }

    // Skipping mode counts bad rows per reason and keeps a few as examples.
    let loaded = load(&schema, &schema.files, &ReadOptions::skipping(true))?;
    let report = &loaded.report;
    println!("read {} rows, skipped {}:", report.rows_read, report.rows_skipped);
    for (reason, count) in &report.by_kind {
        println!("  {count} x {reason}");
    }

    let data = &loaded.data;
    let spec = &data.spec;
    let (fields, tasks) = (spec.sparse.len(), spec.tasks.len());
    println!(
        "\nsparse fields (name, table size): {:?}",
        spec.sparse.iter().map(|f| (&f.name, f.vocab)).collect::<Vec<_>>()
    );
    println!("dense columns: {:?}, tasks: {:?}", spec.dense, spec.tasks);
    // Dense values are as read: the log1p of the schema is applied by a normaliser fitted on
    // a training split (`Splits::normalize`), never at load time.
    println!(
        "\n{:<16} {:>10} {:>8} {:>8}",
        "scenario", "sparse ids", "price", "labels"
    );
    for row in 0..data.len() {
        println!(
            "{:<16} {:>10} {:>8.2} {:>8}",
            spec.scenarios[data.scenario[row] as usize],
            format!("{:?}", &data.sparse[row * fields..(row + 1) * fields]),
            data.dense[row],
            format!("{:?}", &data.labels[row * tasks..(row + 1) * tasks]),
        );
    }

    println!();
    for (m, (name, count)) in spec.scenarios.iter().zip(data.scenario_counts()).enumerate() {
        let click_rate = data.label_rate(0, Some(m)).unwrap_or(f64::NAN);
        println!("scenario {m} {name:?}: {count} rows, click rate {click_rate:.2}");
    }

    // One batch of every row, unshuffled: rows grouped by scenario, sparse ids field-major.
    let mut batch = Batch::new();
    let mut batches = data.batches(data.len(), None);
    if batches.next_into(&mut batch) {
        println!("\nbatch of {} rows", batch.rows);
        println!("  scenario          {:?}", batch.scenario);
        println!("  scenario_offsets  {:?}", batch.scenario_offsets);
        for (f, field) in spec.sparse.iter().enumerate() {
            println!(
                "  {:<17} {:?}",
                field.name,
                &batch.sparse[f * batch.rows..(f + 1) * batch.rows]
            );
        }
        println!("  dense             {:?}", batch.dense);
        println!("  labels            {:?}", batch.labels);
        println!("  source rows       {:?}", batch.source_rows);
    }
    Ok(())
}
