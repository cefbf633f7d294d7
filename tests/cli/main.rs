//! End-to-end tests of the `hinet` binary: every command, the presets, and every kind of bad
//! input (non-zero exit, a message naming file/line/column or key, never a panic).
//!
//! Row counts are small and runs are one epoch so the whole file stays fast on 2 cores.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod outputs;
mod train_safety;

pub(crate) fn hinet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hinet"));
    c.arg("--threads").arg("2");
    c
}

/// `../shared/data` beside the checkout the tests run in (cargo runs them in the package's
/// folder): found at run time, as the command finds it, never a path fixed at build time.
fn beside_checkout() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let checkout = cwd
        .ancestors()
        .find(|a| a.join("Cargo.lock").is_file() || a.join(".git").exists())
        .unwrap_or(&cwd);
    checkout.join("../shared/data")
}

/// The public data samples for the tests that read them: `HINET_DATA_DIR` if set, else
/// `../shared/data` beside this checkout. Absent: the test is skipped with one line, unless
/// `HINET_REQUIRE_DATA=1` (as in CI) makes that a failure.
fn public_data(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("HINET_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => beside_checkout(),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("HINET_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: HINET_REQUIRE_DATA=1 but the public data samples are not in {}",
            dir.display()
        );
    }
    // Written to the stderr handle, not with eprintln!, which the test harness captures and
    // hides for a passing test: the skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: public data samples not found in {}; set HINET_DATA_DIR=DIR to run it",
        dir.display()
    );
    None
}

/// Runs and expects success; returns stdout.
pub(crate) fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run hinet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hinet failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and expects a clean failure; returns stderr.
pub(crate) fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run hinet");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "hinet should have failed; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generated data: (dir guard, csv, schema).
pub(crate) fn gen_data(rows: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    ok(hinet()
        .args(["gen-data", "--rows", &rows.to_string(), "--out"])
        .arg(dir.path()));
    let csv = dir.path().join("synthetic.csv");
    let schema = dir.path().join("synthetic.toml");
    assert!(csv.exists() && schema.exists());
    (dir, csv, schema)
}

fn auc_cells(metrics: &Value) -> Vec<f64> {
    metrics["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().filter_map(|c| c["auc"].as_f64()))
        .collect()
}

#[test]
fn gen_data_train_eval_predict_on_generated_csv() {
    let (dir, csv, schema) = gen_data(20_000);
    let ckpt = dir.path().join("model.safetensors");
    let report = dir.path().join("report.json");
    let plots = dir.path().join("plots");
    let out = ok(hinet()
        .args([
            "train",
            "--epochs",
            "1",
            "--schema",
            s(&schema),
            "--checkpoint",
            s(&ckpt),
        ])
        .args(["--report", s(&report), "--plots", s(&plots)]));
    assert!(out.contains("AUC"), "{out}");
    assert!(ckpt.exists());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["command"], "train");
    assert_eq!(r["test"]["cells"].as_array().unwrap().len(), 6);
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    for png in ["loss.png", "auc.png", "san_attention.png"] {
        assert!(plots.join(png).exists(), "{png}");
    }

    // All rows: the test split alone has too few CTCVR positives in the small scenarios.
    let json = ok(hinet().args(["eval", s(&ckpt), "--schema", s(&schema), "--split", "all", "--json"]));
    let v: Value = serde_json::from_str(&json).unwrap();
    let cells = v["metrics"]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for row in cells {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 2);
        for c in row {
            let auc = c["auc"].as_f64().expect("an AUC per scenario and task");
            assert!((0.0..=1.0).contains(&auc));
            assert!(c["logloss"].as_f64().is_some());
        }
    }
    assert_eq!(v["metrics"]["tasks"], serde_json::json!(["ctr", "ctcvr"]));

    let pred = dir.path().join("pred.csv");
    ok(hinet()
        .args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&pred)])
        .args(["--chunk-rows", "7000", "--batch-size", "3000"]));
    let text = std::fs::read_to_string(&pred).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,p_ctr,p_ctcvr");
    assert_eq!(lines.len(), 20_001);
    for (i, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].parse::<usize>().unwrap(), i, "rows in input order");
        for p in &f[1..] {
            let p: f64 = p.parse().unwrap();
            assert!((0.0..=1.0).contains(&p));
        }
    }
    // Predictions do not depend on how the input is chunked and batched.
    let pred2 = dir.path().join("pred2.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&pred2)]));
    assert_eq!(text, std::fs::read_to_string(&pred2).unwrap());

    // Data to score has no label columns: the same predictions come out.
    let parsed = hinet::data::Schema::from_toml_file(&schema).unwrap();
    let label_columns: Vec<String> = parsed.tasks.iter().map(|t| t.column().to_string()).collect();
    let input = std::fs::read_to_string(&csv).unwrap();
    let mut rows = input.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !label_columns.iter().any(|l| l == header[i]))
        .collect();
    assert_eq!(keep.len() + label_columns.len(), header.len());
    let strip = |line: &str| {
        let f: Vec<&str> = line.split(',').collect();
        keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",")
    };
    let mut unlabeled = strip(&header.join(","));
    unlabeled.push('\n');
    for line in rows {
        unlabeled += &strip(line);
        unlabeled.push('\n');
    }
    let unlabeled_csv = dir.path().join("unlabeled.csv");
    std::fs::write(&unlabeled_csv, unlabeled).unwrap();
    let pred3 = dir.path().join("pred3.csv");
    ok(hinet().args([
        "predict",
        s(&ckpt),
        s(&unlabeled_csv),
        "--schema",
        s(&schema),
        "-o",
        s(&pred3),
    ]));
    assert_eq!(text, std::fs::read_to_string(&pred3).unwrap());
}

/// Trains on a preset, evaluates the checkpoint and returns (train report, eval JSON).
fn preset_run(data: &Path, preset: &str, extra: &[&str]) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let report = dir.path().join("r.json");
    ok(hinet()
        .args([
            "train",
            "--data-dir",
            s(data),
            "--preset",
            preset,
            "--checkpoint",
            s(&ckpt),
            "--report",
            s(&report),
        ])
        .args(extra));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let e: Value = serde_json::from_str(&ok(hinet().args([
        "eval",
        s(&ckpt),
        "--data-dir",
        s(data),
        "--preset",
        preset,
        "--json",
    ])))
    .unwrap();
    (r, e)
}

#[test]
fn preset_ali_ccp_sample() {
    let Some(data) = public_data("preset_ali_ccp_sample") else {
        return;
    };
    // Measured 0.5983 (mean over the cells where the AUC is defined; the 50-row test file has
    // no CTCVR positive in scenarios 2 and 3), deterministic run to run:
    //   hinet --threads 2 train --preset ali-ccp --epochs 5 --batch-size 32 --checkpoint m.st
    //   hinet eval m.st --preset ali-ccp --json
    // The sample is a plumbing sample (100 train rows, all from one user): the floor guards
    // against a broken pipeline, not for learning quality.
    let (r, e) = preset_run(&data, "ali-ccp", &["--epochs", "5", "--batch-size", "32"]);
    assert_eq!(e["metrics"]["scenarios"].as_array().unwrap().len(), 3);
    let auc = e["mean_auc"].as_f64().unwrap();
    assert!(auc > 0.55, "ali-ccp mean test AUC {auc} (measured 0.5983); report {r}");
}

#[test]
fn preset_aliexpress_sample() {
    let Some(data) = public_data("preset_aliexpress_sample") else {
        return;
    };
    // Measured 0.4749, deterministic run to run:
    //   hinet --threads 2 train --preset aliexpress --epochs 5 --batch-size 32 --checkpoint m.st
    //   hinet eval m.st --preset aliexpress --json
    // 200 training rows of two unrelated sources used as two scenarios: nothing to learn (the
    // AUC is chance level); the floor only catches a changed pipeline.
    let (r, e) = preset_run(&data, "aliexpress", &["--epochs", "5", "--batch-size", "32"]);
    assert_eq!(e["metrics"]["scenarios"].as_array().unwrap().len(), 2);
    assert_eq!(auc_cells(&e["metrics"]).len(), 4);
    let auc = e["mean_auc"].as_f64().unwrap();
    assert!(
        auc > 0.42,
        "aliexpress mean test AUC {auc} (measured 0.4749); report {r}"
    );
}

#[test]
fn preset_movielens_100k() {
    let Some(data) = public_data("preset_movielens_100k") else {
        return;
    };
    // Measured 0.7811 (per scenario like 0.758-0.775, love 0.786-0.799):
    //   hinet --threads 2 train --preset movielens-100k --epochs 1 --checkpoint m.st
    //   hinet eval m.st --preset movielens-100k --json
    let (r, e) = preset_run(&data, "movielens-100k", &["--epochs", "1", "--batch-size", "512"]);
    assert_eq!(e["metrics"]["scenarios"].as_array().unwrap().len(), 3);
    let auc = e["mean_auc"].as_f64().unwrap();
    assert!(
        auc > 0.73,
        "movielens mean test AUC {auc} (measured 0.7811); report {r}"
    );
    assert_eq!(auc_cells(&e["metrics"]).len(), 6);
}

#[test]
fn synthetic_default_style_run_learns() {
    // `hinet train` with its defaults, only fewer rows and one epoch.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = ok(hinet().args(["train", "--rows", "40000", "--epochs", "1", "--report", s(&report)]));
    assert!(out.contains("Test metrics"), "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let overall = r["test"]["overall"].as_array().unwrap();
    for c in overall {
        let (auc, oracle) = (c["auc"].as_f64().unwrap(), c["oracle_auc"].as_f64().unwrap());
        // Measured: CTR 0.6247 (oracle 0.8233), CTCVR 0.6071 (oracle 0.9004):
        //   hinet --threads 2 train --rows 40000 --epochs 1 --report r.json
        assert!(auc > 0.55, "AUC {auc} (measured 0.6247 / 0.6071)");
        assert!(oracle - auc < 0.35, "AUC {auc} too far below the oracle {oracle}");
    }
}

#[test]
fn default_command_prints_auc_beside_oracle() {
    // `hinet train` with no arguments trains on 200,000 rows (about 10 s in release, minutes in
    // a debug build); the test shrinks only the row count with --rows and keeps every other
    // default.
    let out = ok(hinet().args(["train", "--rows", "5000"]));
    assert!(out.contains("Test metrics"), "{out}");
    assert!(out.contains("ctr: AUC (oracle)"), "{out}");
    assert!(out.contains("all "), "{out}");
}

#[test]
fn bench_json() {
    let out = ok(hinet().args(["bench", "--steps", "2", "--warmup", "1", "--batch", "64", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["train"]["samples_per_second"].as_f64().is_some());
    assert!(v["train"]["gflops"].as_f64().is_some());
    assert!(v.get("peak_rss_bytes").is_some());
    let out = ok(hinet()
        .args(["bench", "--predict", "--steps", "2", "--warmup", "1", "--batch", "64"])
        .args(["--latency-iters", "5", "--json", "--config", "small"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["predict"]["single_row_p99_us"].as_f64().is_some());
}

// ---------------------------------------------------------------- bad input

/// The generated CSV with `edit` applied to data line `line` (1-based file line, header = 1).
fn corrupt(csv: &Path, name: &str, line: usize, edit: impl Fn(&[&str], &mut Vec<String>)) -> PathBuf {
    let text = std::fs::read_to_string(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i + 1 == line {
            let mut fields: Vec<String> = l.split(',').map(String::from).collect();
            edit(&header, &mut fields);
            out += &fields.join(",");
        } else {
            out += l;
        }
        out.push('\n');
    }
    let path = csv.with_file_name(name);
    std::fs::write(&path, out).unwrap();
    path
}

fn set(header: &[&str], fields: &mut [String], column: &str, value: &str) {
    let i = header.iter().position(|h| *h == column).unwrap();
    fields[i] = value.to_string();
}

fn train_on(schema: &Path, csv: &Path) -> Command {
    let mut c = hinet();
    c.args(["train", "--epochs", "1", "--schema", s(schema), "--data", s(csv)]);
    c
}

#[test]
fn bad_rows_name_file_line_and_column() {
    let (_dir, csv, schema) = gen_data(300);
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "field count",
            corrupt(&csv, "fields.csv", 5, |_, f| {
                f.pop();
            }),
            "fields.csv:5: expected",
        ),
        (
            "dense",
            corrupt(&csv, "dense.csv", 7, |h, f| set(h, f, "user_activity", "abc")),
            "dense.csv:7: column \"user_activity\": \"abc\" is not a number",
        ),
        (
            "scenario",
            corrupt(&csv, "scen.csv", 9, |h, f| set(h, f, "scenario", "nowhere")),
            "scen.csv:9: column \"scenario\": scenario \"nowhere\" is not one of",
        ),
        (
            "vocab",
            corrupt(&csv, "vocab.csv", 11, |h, f| set(h, f, "user_id", "999999")),
            "vocab.csv:11: column \"user_id\": id 999999 is outside the vocabulary",
        ),
        (
            "label",
            corrupt(&csv, "label.csv", 13, |h, f| set(h, f, "ctr", "")),
            "label.csv:13: column \"ctr\": label is missing",
        ),
    ];
    for (what, file, message) in &cases {
        let err = fails(&mut train_on(&schema, file));
        assert!(err.contains(message), "{what}: {err}");
    }
    // Skipping: all five bad rows are skipped and reported.
    let all = corrupt(&cases[0].1, "all.csv", 7, |h, f| set(h, f, "user_activity", "abc"));
    let all = corrupt(&all, "all.csv", 9, |h, f| set(h, f, "scenario", "nowhere"));
    let out = hinet()
        .args([
            "train",
            "--epochs",
            "1",
            "--schema",
            s(&schema),
            "--data",
            s(&all),
            "--skip-bad-rows",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("3 skipped"), "{stderr}");
    assert!(stderr.contains("wrong field count: 1"), "{stderr}");
    assert!(stderr.contains("unknown scenario: 1"), "{stderr}");
}

#[test]
fn bad_files_schemas_and_configs() {
    let (dir, csv, schema) = gen_data(300);
    // Empty file.
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = fails(&mut train_on(&schema, &empty));
    assert!(err.contains("empty.csv: is empty"), "{err}");
    // Header only.
    let header_only = dir.path().join("header.csv");
    let first = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&header_only, first + "\n").unwrap();
    let err = fails(&mut train_on(&schema, &header_only));
    assert!(err.contains("header.csv: has a header but no data rows"), "{err}");
    // Schema naming a missing column.
    let text = std::fs::read_to_string(&schema).unwrap();
    let bad_schema = dir.path().join("bad.toml");
    std::fs::write(&bad_schema, text.replacen("user_activity", "no_such_column", 1)).unwrap();
    let err = fails(&mut train_on(&bad_schema, &csv));
    assert!(err.contains("synthetic.csv:1: column \"no_such_column\""), "{err}");
    // Unknown config key.
    let config = dir.path().join("model.toml");
    std::fs::write(&config, "sub_experts = 2\nexpert_widths = [8]\n").unwrap();
    let err = fails(train_on(&schema, &csv).args(["--config", s(&config)]));
    assert!(err.contains("expert_widths"), "{err}");
    assert!(err.contains("model.toml"), "{err}");
    // A config listing features that disagree with the data.
    std::fs::write(&config, "dense = [\"price\"]\n").unwrap();
    let err = fails(train_on(&schema, &csv).args(["--config", s(&config)]));
    assert!(err.contains("key `dense`"), "{err}");
    // Missing files.
    let err = fails(&mut train_on(&schema, &dir.path().join("nope.csv")));
    assert!(err.contains("nope.csv"), "{err}");
    let err = fails(hinet().args(["eval", "no-such.safetensors"]));
    assert!(err.contains("no-such.safetensors"), "{err}");
}

#[test]
fn checkpoint_of_other_features_is_refused() {
    let (dir, csv, schema) = gen_data(300);
    let other = dir.path().join("bench-shape");
    ok(hinet()
        .args(["gen-data", "--shape", "bench-default", "--rows", "300", "--out"])
        .arg(&other));
    let ckpt = dir.path().join("other.safetensors");
    ok(hinet().args([
        "train",
        "--schema",
        s(&other.join("synthetic.toml")),
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
    let err = fails(hinet().args(["eval", s(&ckpt), "--schema", s(&schema)]));
    assert!(err.contains("does not match the data: key `sparse"), "{err}");
    let out = dir.path().join("p.csv");
    let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&out)]));
    assert!(err.contains("does not match the data"), "{err}");
}

/// A small experiment (quick scale, one seed, one dataset; the comparison, ablation and SAN
/// studies, so every architecture and ablation trains): every output is written, the tables
/// hold one row per model with AUCs in range, the paper comparison is stated, a rerun on one
/// worker gives the same numbers, and `--from` redraws the same report from results.json
/// without training. (CI runs no separate experiment: this is its smoke test. The expert-count
/// study only varies `sub_experts`; its report is a unit test of `report/`.)
#[test]
fn experiment_writes_results_tables_and_figures() {
    let Some(data) = public_data("experiment_writes_results_tables_and_figures") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(hinet().args([
        "experiment",
        "--data-dir",
        s(&data),
        "--quick",
        "--studies",
        "comparison,ablation,san",
        "--datasets",
        "movielens-100k",
        "--seeds",
        "1",
        "--out",
        s(&out),
    ]));
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    for needle in [
        "## 1. HiNet against the baselines",
        "## 2. Ablation",
        "## 4. Scenario correlations",
        "| Shared-Bottom |",
        "| MMoE |",
        "| PLE |",
        "| STAR |",
        "| HMoE |",
        "| HiNet w/o SAN |",
        "| HiNet w/o hierarchy |",
        "| HiNet w/o gates |",
        "The paper's order of importance is the gates, then the hierarchy, then SAN.",
        "Quick mode",
        "results/ablation_movielens-100k.png",
        "results/san_movielens-100k.png",
    ] {
        assert!(md.contains(needle), "results.md lacks {needle:?}:\n{md}");
    }
    for f in [
        "comparison_movielens-100k.png",
        "ablation_movielens-100k.png",
        "san_movielens-100k.png",
        "results.json",
    ] {
        let len = std::fs::metadata(out.join("results").join(f)).unwrap().len();
        assert!(len > 1000, "{f}: {len} bytes");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results/results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert!(!md.contains("## 3. Number of sub-experts"), "study not asked for");
    assert_eq!(runs.len(), 9, "9 models x 1 seed");
    for r in runs {
        let cells: Vec<f64> = r["test_auc"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().filter_map(Value::as_f64))
            .collect();
        assert_eq!(cells.len(), 3 * 2, "3 scenarios x 2 tasks");
        // MovieLens is signal-rich: two epochs already rank well above chance (every model of
        // the quick run measured 0.789-0.791 mean test AUC).
        let mean = cells.iter().sum::<f64>() / cells.len() as f64;
        assert!(mean > 0.75 && mean < 1.0, "{r}");
    }
    let hinet_runs: Vec<&Value> = runs.iter().filter(|r| r["variant"] == "hinet").collect();
    let att = hinet_runs[0]["attention"].as_array().unwrap();
    for (i, row) in att.iter().enumerate() {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(row[i], 0.0, "own scenario excluded");
        assert!(
            (row.iter().sum::<f64>() - 1.0).abs() < 1e-4,
            "renormalised SAN: {row:?}"
        );
    }
    // Same seeds, same data: a second run on other worker counts gives the same numbers.
    let again = dir.path().join("again");
    ok(hinet().args([
        "experiment",
        "--data-dir",
        s(&data),
        "--quick",
        "--studies",
        "san",
        "--datasets",
        "movielens-100k",
        "--seeds",
        "1",
        "--jobs",
        "1",
        "--out",
        s(&again),
    ]));
    let json2: Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("results/results.json")).unwrap()).unwrap();
    let first = runs.iter().find(|r| r["variant"] == "hinet" && r["seed"] == 1).unwrap();
    assert_eq!(json2["runs"][0]["test_auc"], first["test_auc"]);

    let redrawn = dir.path().join("redrawn");
    ok(hinet().args([
        "experiment",
        "--from",
        s(&out.join("results/results.json")),
        "--out",
        s(&redrawn),
    ]));
    assert_eq!(std::fs::read_to_string(redrawn.join("results.md")).unwrap(), md);
}

#[test]
fn experiment_bad_arguments() {
    let e = fails(hinet().args(["experiment", "--from", "/no/such/results.json"]));
    assert!(e.contains("/no/such/results.json"), "{e}");
    let e = fails(hinet().args(["experiment", "--seeds", "0"]));
    assert!(e.contains("--seeds"), "{e}");
    // Argument errors are clap's: exit code 2 and the valid values listed.
    let out = hinet()
        .args(["experiment", "--studies", "everything"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("comparison") && e.contains("ablation"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = fails(hinet().args([
        "experiment",
        "--quick",
        "--datasets",
        "movielens-100k",
        "--data-dir",
        s(dir.path()),
    ]));
    assert!(e.contains("movielens-100k"), "{e}");
}

/// The generated CSV cut into files with the given parts (`None`: no `part`), and a schema
/// that reads them: (schema path, file paths).
fn parted(dir: &Path, csv: &Path, schema: &Path, parts: &[Option<&str>]) -> (PathBuf, Vec<PathBuf>) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per = rows.len().div_ceil(parts.len());
    let mut files = Vec::new();
    let mut toml = std::fs::read_to_string(schema).unwrap();
    toml.truncate(toml.find("[[files]]").unwrap_or(toml.len()));
    for (k, (chunk, part)) in rows.chunks(per).zip(parts).enumerate() {
        let path = dir.join(format!("part{k}.csv"));
        std::fs::write(&path, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
        toml += &format!("\n[[files]]\npath = {:?}\n", s(&path));
        if let Some(p) = part {
            toml += &format!("part = {p:?}\n");
        }
        files.push(path);
    }
    let out = dir.join("parted.toml");
    std::fs::write(&out, toml).unwrap();
    (out, files)
}

pub(crate) fn report_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn missing_data_folder_is_one_clear_line() {
    let empty = tempfile::tempdir().unwrap();
    // No option, no variable, no checkout around the working directory.
    let err = fails(hinet().env_remove("HINET_DATA_DIR").current_dir(empty.path()).args([
        "train",
        "--preset",
        "movielens-100k",
    ]));
    for needle in ["--data-dir", "HINET_DATA_DIR", "../shared/data"] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("os error"), "{err}");
    let err = fails(hinet().args(["train", "--preset", "ali-ccp", "--data-dir", "/no/such/folder"]));
    assert!(err.contains("--data-dir /no/such/folder: no such folder"), "{err}");
    let err = fails(
        hinet()
            .env("HINET_DATA_DIR", "/no/such/folder")
            .args(["train", "--preset", "ali-ccp"]),
    );
    assert!(err.contains("HINET_DATA_DIR=/no/such/folder"), "{err}");
    // A data folder without the preset's files names the file it expected.
    let err = fails(hinet().args(["train", "--preset", "ali-ccp", "--data-dir", s(empty.path())]));
    assert!(err.contains("ali_ccp_train.csv") && err.contains("not found"), "{err}");
}

#[test]
fn built_in_config_with_overrides_and_base() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let run = |extra: &[&str]| {
        ok(hinet()
            .args(["train", "--rows", "3000", "--epochs", "1", "-q", "--report", s(&report)])
            .args(extra));
        report_of(&report)["config"].clone()
    };
    let small = run(&[]);
    assert_eq!(small["tower_hidden"], serde_json::json!([32]));
    let c = run(&[
        "--config",
        "small",
        "--set",
        "tower_hidden=[16]",
        "--set",
        "sub_experts=2",
    ]);
    assert_eq!(c["tower_hidden"], serde_json::json!([16]));
    assert_eq!(c["sub_experts"], serde_json::json!(2));
    assert_eq!(c["expert_hidden"], small["expert_hidden"], "the rest stays small's");
    // A file that starts from a built-in: its keys on top of `small`.
    let file = dir.path().join("model.toml");
    std::fs::write(&file, "base = \"small\"\ncgc_hidden = [48]\n").unwrap();
    let c = run(&["--config", s(&file), "--set", "dropout=0.1"]);
    assert_eq!(c["cgc_hidden"], serde_json::json!([48]));
    assert_eq!(c["dropout"], serde_json::json!(0.1));
    assert_eq!(c["scenario_embedding_dim"], small["scenario_embedding_dim"]);
    // Mistakes name the key.
    let err = fails(hinet().args(["train", "--rows", "3000", "--set", "tower_hiden=[16]"]));
    assert!(err.contains("tower_hiden"), "{err}");
    let err = fails(hinet().args(["train", "--rows", "3000", "--embedding-l2", "-1"]));
    assert!(err.contains("embedding_l2") && err.contains("-1"), "{err}");
    let err = fails(hinet().args(["train", "--rows", "3000", "--set", "sub_experts"]));
    assert!(err.contains("KEY=VALUE"), "{err}");
    std::fs::write(&file, "base = \"large\"\n").unwrap();
    let err = fails(hinet().args(["train", "--rows", "3000", "--config", s(&file)]));
    assert!(err.contains("key `base`") && err.contains("large"), "{err}");
}

#[test]
fn gen_data_bench_default_shape_trains_with_the_bench_default_config() {
    let dir = tempfile::tempdir().unwrap();
    ok(hinet()
        .args(["gen-data", "--shape", "bench-default", "--rows", "3000", "--out"])
        .arg(dir.path()));
    let out = ok(hinet().args([
        "train",
        "--schema",
        s(&dir.path().join("synthetic.toml")),
        "--config",
        "bench-default",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "-q",
    ]));
    assert!(out.contains("Test metrics"), "{out}");
}

#[test]
fn train_and_test_files_only_no_validation() {
    let (dir, csv, schema) = gen_data(6000);
    let (parted, _) = parted(dir.path(), &csv, &schema, &[Some("train"), Some("train"), Some("test")]);
    // No validation rows: --patience cannot work, and says why before any training.
    let err = fails(hinet().args(["train", "--schema", s(&parted), "--patience", "2"]));
    assert!(err.contains("--patience") && err.contains("--valid-fraction"), "{err}");
    let report = dir.path().join("r.json");
    let out = hinet()
        .args(["train", "--schema", s(&parted), "--epochs", "2", "--report", s(&report)])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("no validation rows").count(), 1, "said once: {stderr}");
    assert!(!stderr.contains("valid loss"), "{stderr}");
    let r = report_of(&report);
    assert_eq!(
        (r["rows"]["train"].as_u64(), r["rows"]["valid"].as_u64()),
        (Some(4000), Some(0))
    );
    // --valid-fraction carves validation rows from the training files only.
    ok(hinet().args([
        "train",
        "--schema",
        s(&parted),
        "--epochs",
        "1",
        "--valid-fraction",
        "0.25",
        "--report",
        s(&report),
    ]));
    let r = report_of(&report);
    let (train, valid, test) = (
        r["rows"]["train"].as_u64().unwrap(),
        r["rows"]["valid"].as_u64().unwrap(),
        r["rows"]["test"].as_u64().unwrap(),
    );
    assert_eq!((train + valid, test), (4000, 2000), "the test file stays whole");
    assert!((800..1200).contains(&valid), "about a quarter of 4000: {valid}");
    let err = fails(hinet().args(["train", "--schema", s(&parted), "--valid-fraction", "1.5"]));
    assert!(err.contains("--valid-fraction"), "{err}");
}

#[test]
fn only_training_rows_finish_with_a_checkpoint_and_nothing_to_evaluate() {
    let (dir, csv, schema) = gen_data(3000);
    let (parted, _) = parted(dir.path(), &csv, &schema, &[Some("train")]);
    let ckpt = dir.path().join("m.safetensors");
    let out = ok(hinet().args([
        "train",
        "--schema",
        s(&parted),
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
    ]));
    assert!(out.contains("Nothing to evaluate"), "{out}");
    assert!(ckpt.exists());
}

#[test]
fn files_with_and_without_a_part_are_refused() {
    let (dir, csv, schema) = gen_data(3000);
    let (parted, files) = parted(dir.path(), &csv, &schema, &[Some("train"), None, Some("test")]);
    let err = fails(hinet().args(["train", "--schema", s(&parted), "--epochs", "1"]));
    for f in &files {
        assert!(
            err.contains(f.file_name().unwrap().to_str().unwrap()),
            "{f:?} not named: {err}"
        );
    }
}

#[test]
fn resume_keeps_the_checkpoints_normalizer_unless_asked() {
    let (dir, _csv, schema) = gen_data(4000);
    let ckpt = dir.path().join("m.safetensors");
    let report = dir.path().join("r.json");
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "--report",
        s(&report),
        "-q",
    ]));
    let first = report_of(&report)["dense_normalizer"].clone();
    assert!(first["columns"].as_array().is_some_and(|c| !c.is_empty()), "{first}");
    // New data from another world: its own statistics differ.
    let other = dir.path().join("other");
    ok(hinet()
        .args(["gen-data", "--rows", "4000", "--seed", "7", "--out"])
        .arg(&other));
    let other_schema = other.join("synthetic.toml");
    let resumed = |extra: &[&str]| {
        ok(hinet()
            .args([
                "train",
                "--resume",
                s(&ckpt),
                "--schema",
                s(&other_schema),
                "--epochs",
                "2",
                "--report",
                s(&report),
                "-q",
            ])
            .args(extra));
        report_of(&report)["dense_normalizer"].clone()
    };
    assert_eq!(resumed(&[]), first, "a resumed run keeps the checkpoint's normaliser");
    assert_ne!(resumed(&["--refit-normalizer"]), first, "refitted on the new data");
}

#[test]
fn no_oracle_column_without_oracle_data() {
    let (dir, csv, schema) = gen_data(3000);
    let text = std::fs::read_to_string(&schema).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("oracle_columns"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(without, text, "the generated schema names oracle columns");
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, without).unwrap();
    let out = ok(hinet().args(["train", "--schema", s(&plain), "--data", s(&csv), "--epochs", "1", "-q"]));
    assert!(out.contains("ctr: AUC logloss") && !out.contains("oracle"), "{out}");
    let out = ok(hinet().args(["train", "--schema", s(&schema), "--epochs", "1", "-q"]));
    assert!(out.contains("ctr: AUC (oracle)"), "{out}");
}

#[test]
fn auto_vocabulary_is_fixed_by_the_checkpoint_for_other_files() {
    let (dir, csv, schema) = gen_data(3000);
    // `vocab = "auto"`: the table size comes from the training data (largest id + 1).
    let text = std::fs::read_to_string(&schema).unwrap().replace(
        "column = \"user_id\"\nvocab = 2000",
        "column = \"user_id\"\nvocab = \"auto\"",
    );
    assert!(text.contains("vocab = \"auto\""), "{text}");
    let auto = dir.path().join("auto.toml");
    std::fs::write(&auto, text).unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let report = dir.path().join("r.json");
    ok(hinet().args([
        "train",
        "--schema",
        s(&auto),
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "--report",
        s(&report),
        "-q",
    ]));
    let config = &report_of(&report)["config"];
    let user = config["sparse"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "user_id")
        .unwrap();
    let largest = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(user["vocab"].as_u64(), Some(largest + 1));
    // Scoring a file with a user id beyond the trained table: a bad row at its line and column.
    let header_and_row: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .take(3)
        .map(String::from)
        .collect();
    let mut fields: Vec<String> = header_and_row[2].split(',').map(String::from).collect();
    fields[1] = (largest + 1000).to_string();
    let new = dir.path().join("new.csv");
    std::fs::write(
        &new,
        format!("{}\n{}\n{}\n", header_and_row[0], header_and_row[1], fields.join(",")),
    )
    .unwrap();
    let out = dir.path().join("p.csv");
    let err = fails(hinet().args(["predict", s(&ckpt), s(&new), "--schema", s(&auto), "-o", s(&out)]));
    assert!(err.contains("new.csv:3") && err.contains("user_id"), "{err}");
    let err = fails(hinet().args([
        "eval",
        s(&ckpt),
        "--schema",
        s(&auto),
        "--data",
        s(&new),
        "--split",
        "all",
    ]));
    assert!(err.contains("new.csv:3") && err.contains("user_id"), "{err}");
    // The training rows themselves still score.
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&auto), "-o", s(&out)]));
}

/// `--stream` trains from the files epoch after epoch: the same split and row counts as the
/// in-memory run, the same fitted normaliser, a checkpoint `eval` reads, and learning; the
/// choice is logged; generated data cannot be streamed. (The choice by size is a unit test of
/// `train/source.rs`.)
#[test]
fn streaming_training_matches_the_in_memory_split_and_learns() {
    let (dir, _csv, schema) = gen_data(30_000);
    let train = |mode: &str, name: &str| {
        let ckpt = dir.path().join(format!("{name}.safetensors"));
        let report = dir.path().join(format!("{name}.json"));
        let out = hinet()
            .args(["train", "--epochs", "2", "--schema", s(&schema), mode])
            .args([
                "--shuffle-buffer",
                "4096",
                "--checkpoint",
                s(&ckpt),
                "--report",
                s(&report),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (r, stderr, ckpt)
    };
    let (streamed, log, ckpt) = train("--stream", "streamed");
    let (memory, memory_log, _) = train("--in-memory", "memory");
    assert!(log.contains("streaming the files each epoch (--stream)"), "{log}");
    assert!(
        memory_log.contains("reading the files into memory (--in-memory)"),
        "{memory_log}"
    );
    assert_eq!(streamed["streamed"], true);
    assert_eq!(memory["streamed"], false);
    assert_eq!(streamed["rows"], memory["rows"], "the same split");
    assert_eq!(
        streamed["dense_normalizer"], memory["dense_normalizer"],
        "the same normaliser"
    );
    // Both learn, about equally: the loss falls and the validation AUC rises above chance
    // (measured: 0.595 streamed, 0.598 in memory after epoch 2 on these 24,053 rows).
    let valid_auc = |r: &Value, e: usize| r["history"][e]["valid_auc"].as_f64().unwrap();
    for r in [&streamed, &memory] {
        let loss = |e: usize| r["history"][e]["train_loss"].as_f64().unwrap();
        assert!(loss(1) < loss(0), "{r}");
        assert!(valid_auc(r, 1) > 0.56, "{}", valid_auc(r, 1));
    }
    assert!((valid_auc(&streamed, 1) - valid_auc(&memory, 1)).abs() < 0.03);
    let json = ok(hinet().args(["eval", s(&ckpt), "--json"]));
    let v: Value = serde_json::from_str(&json).unwrap();
    let eval_auc = v["mean_auc"].as_f64().unwrap();
    assert!(
        (eval_auc - streamed["test_mean_auc"].as_f64().unwrap()).abs() < 1e-9,
        "{json}"
    );
    let e = fails(hinet().args(["train", "--rows", "2000", "--stream"]));
    assert!(e.contains("--stream reads CSV files"), "{e}");
}

/// Several files streamed: each epoch reads them in a new seeded order, yet every row keeps its
/// split (its key is its file and record number, not its position in the read), so the split
/// and the normaliser equal the in-memory run's, and it learns.
#[test]
fn streaming_several_files_in_shuffled_order_keeps_the_split() {
    let (dir, csv, schema) = gen_data(24_000);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let mut data_args = Vec::new();
    for (i, part) in rows.chunks(9_000).enumerate() {
        let path = dir.path().join(format!("part{i}.csv"));
        std::fs::write(&path, format!("{header}\n{}\n", part.join("\n"))).unwrap();
        data_args.extend(["--data".to_string(), s(&path).to_string()]);
    }
    let train = |mode: &str| {
        let report = dir.path().join(format!("{mode}.json"));
        ok(hinet()
            .args([
                "train",
                "--epochs",
                "2",
                "--schema",
                s(&schema),
                mode,
                "--shuffle-buffer",
                "4096",
            ])
            .args(&data_args)
            .args(["--report", s(&report)]));
        serde_json::from_str::<Value>(&std::fs::read_to_string(&report).unwrap()).unwrap()
    };
    let (streamed, memory) = (train("--stream"), train("--in-memory"));
    assert_eq!(streamed["rows"], memory["rows"], "the same split");
    assert_eq!(
        streamed["dense_normalizer"], memory["dense_normalizer"],
        "the same normaliser"
    );
    let valid_auc = streamed["history"][1]["valid_auc"].as_f64().unwrap();
    assert!(valid_auc > 0.56, "valid AUC {valid_auc}");
}

/// bf16 mixed precision end to end: `--precision bf16` trains (the log says how its products
/// run here) and learns; the checkpoint records the precision, so `eval` reproduces the run's
/// test AUC exactly; a wrong name is refused, naming the option or the key.
#[test]
fn bf16_training_learns_and_its_checkpoint_keeps_the_precision() {
    let dir = tempfile::tempdir().unwrap();
    let (ckpt, report) = (dir.path().join("m.safetensors"), dir.path().join("r.json"));
    let out = hinet()
        .args(["train", "--rows", "40000", "--epochs", "1", "--precision", "bf16"])
        .args(["--checkpoint", s(&ckpt), "--report", s(&report)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("products bf16 ("), "{stderr}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // Measured: overall CTR 0.6263, CTCVR 0.6086 (f32: 0.6247, 0.6071), hinet --threads 2 train
    // --rows 40000 --epochs 1 [--precision bf16].
    for c in r["test"]["overall"].as_array().unwrap() {
        let auc = c["auc"].as_f64().unwrap();
        assert!(auc > 0.58, "bf16 overall test AUC {auc}");
    }
    let test_auc = r["test_mean_auc"].as_f64().unwrap();
    let v: Value = serde_json::from_str(&ok(hinet().args(["eval", s(&ckpt), "--json"]))).unwrap();
    let eval_auc = v["mean_auc"].as_f64().unwrap();
    assert!(
        (eval_auc - test_auc).abs() < 1e-9,
        "eval {eval_auc} vs the run's {test_auc}"
    );
    assert_eq!(v["config"]["precision"], "bf16");
    // The same weights evaluated in f32: another computation of the same model, close to it.
    let v32: Value =
        serde_json::from_str(&ok(hinet().args(["eval", s(&ckpt), "--json", "--precision", "f32"]))).unwrap();
    assert_eq!(v32["config"]["precision"], "f32");
    let auc32 = v32["mean_auc"].as_f64().unwrap();
    assert!(
        (auc32 - test_auc).abs() < 0.01,
        "f32 evaluation {auc32} vs bf16 {test_auc}"
    );
    // A usage error: clap's exit status 2.
    let out = hinet()
        .args(["train", "--rows", "2000", "--precision", "fp16"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("--precision") && e.contains("expected f32 or bf16"), "{e}");
    let e = fails(hinet().args(["train", "--rows", "2000", "--set", "precision=fp8"]));
    assert!(e.contains("precision \"fp8\": expected \"f32\" or \"bf16\""), "{e}");
}
