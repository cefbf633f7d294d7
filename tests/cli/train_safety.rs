//! `hinet train` and the global options never panic, destroy a file, hang or answer wrongly
//! without saying so: outputs checked against inputs before any work, one run per checkpoint,
//! the best model kept in memory, nothing-to-do runs refused, numbers validated, sizes refused
//! before allocation, checkpoints that name their schema absolutely, out-of-range inputs
//! reported.

use crate::{fails, gen_data, hinet, ok, report_of, s};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The metadata of a safetensors checkpoint (`__metadata__` of its JSON header).
fn metadata(path: &Path) -> serde_json::Map<String, Value> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"].as_object().unwrap().clone()
}

/// A training run in the background (stderr kept for the assertions).
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hinet"))
        .args(["--threads", "2"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hinet")
}

/// Waits (at most `limit`) until `ready` holds; false on time-out.
fn wait_for(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn stderr_of(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A synthetic run long enough to act on mid-way (one to two seconds per epoch on two idle
/// cores, so the tests' 10 ms polling has a hundred chances; longer when the machine is busy).
const SLOW: [&str; 4] = ["--rows", "100000", "--eval-batch-size", "8192"];

// ---------------------------------------------------------------- class 1: outputs vs inputs

#[test]
fn an_output_onto_an_input_is_refused_and_the_input_untouched() {
    let (dir, csv, schema) = gen_data(2000);
    let csv_bytes = std::fs::read(&csv).unwrap();
    let schema_bytes = std::fs::read(&schema).unwrap();
    let config = dir.path().join("model.toml");
    std::fs::write(&config, "base = \"small\"\ntower_hidden = [16]\n").unwrap();
    let config_bytes = std::fs::read(&config).unwrap();
    let train = || {
        let mut c = hinet();
        c.args(["train", "--epochs", "1", "--schema", s(&schema)]);
        c
    };
    for (option, target) in [
        ("--checkpoint", &csv),
        ("--checkpoint", &schema),
        ("--report", &csv),
        ("--report", &schema),
    ] {
        let e = fails(train().args([option, s(target)]));
        assert!(e.contains(option) && e.contains("input"), "{option} {target:?}: {e}");
        assert!(!e.contains("epoch 1/"), "refused before training: {e}");
    }
    // The data given with --data, the config file, through another spelling of the path.
    let e = fails(
        train()
            .args(["--data", s(&csv), "--checkpoint"])
            .arg(dir.path().join(".").join("synthetic.csv")),
    );
    assert!(e.contains("--checkpoint"), "{e}");
    let e = fails(train().args(["--config", s(&config), "--report", s(&config)]));
    assert!(e.contains("--report"), "{e}");
    // A plot file that is an input: --plots DIR where DIR/loss.png is the data.
    let plots = dir.path().join("plots");
    std::fs::create_dir(&plots).unwrap();
    std::fs::copy(&csv, plots.join("loss.png")).unwrap();
    let e = fails(train().args(["--data", s(&plots.join("loss.png")), "--plots", s(&plots)]));
    assert!(e.contains("--plots"), "{e}");
    // Two outputs on one file.
    let out = dir.path().join("out.bin");
    let e = fails(train().args(["--checkpoint", s(&out), "--report", s(&out)]));
    assert!(e.contains("--report") && e.contains("--checkpoint"), "{e}");
    assert_eq!(std::fs::read(&csv).unwrap(), csv_bytes, "the data is untouched");
    assert_eq!(std::fs::read(&schema).unwrap(), schema_bytes, "the schema is untouched");
    assert_eq!(std::fs::read(&config).unwrap(), config_bytes, "the config is untouched");

    // The --resume checkpoint is an input of --report (but may be the --checkpoint itself).
    let ckpt = dir.path().join("m.safetensors");
    ok(train().args(["--checkpoint", s(&ckpt), "-q"]));
    let ckpt_bytes = std::fs::read(&ckpt).unwrap();
    let e = fails(hinet().args(["train", "--resume", s(&ckpt), "--epochs", "2", "--report", s(&ckpt)]));
    assert!(e.contains("--report"), "{e}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), ckpt_bytes);
}

#[test]
fn resuming_in_place_is_allowed() {
    let (dir, _csv, schema) = gen_data(2000);
    let ckpt = dir.path().join("m.safetensors");
    ok(hinet().args([
        "train",
        "--epochs",
        "1",
        "--schema",
        s(&schema),
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
    ok(hinet().args([
        "train",
        "--resume",
        s(&ckpt),
        "--checkpoint",
        s(&ckpt),
        "--epochs",
        "2",
        "-q",
    ]));
    assert_eq!(metadata(&ckpt)["extra.epoch"], "2");
    ok(hinet().args(["eval", s(&ckpt)]));
}

#[test]
fn a_checkpoint_that_cannot_be_written_fails_before_training() {
    let (dir, csv, schema) = gen_data(2000);
    let not_a_folder = csv.join("m.safetensors");
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing").join("m.safetensors"), "does not exist"),
        (not_a_folder, "not a folder"),
        (dir.path().to_path_buf(), "folder"),
        (PathBuf::from("/dev/null"), "not a regular file"),
    ];
    for (path, why) in cases {
        let start = Instant::now();
        let e = fails(hinet().args([
            "train",
            "--schema",
            s(&schema),
            "--epochs",
            "3",
            "--checkpoint",
            s(&path),
        ]));
        assert!(e.contains("--checkpoint") && e.contains(why), "{path:?}: {e}");
        assert!(!e.contains("epoch 1/") && !e.contains("data:"), "before any work: {e}");
        assert!(start.elapsed() < Duration::from_secs(20), "{path:?}");
    }
    assert!(!dir.path().join("missing").exists(), "nothing created");
    // A missing folder for --report or --plots is created (before training) instead.
    let report = dir.path().join("new").join("r.json");
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "1",
        "--report",
        s(&report),
        "-q",
    ]));
    assert!(report.exists());
}

// ---------------------------------------------------------------- class 2: one run per checkpoint

#[test]
fn a_second_trainer_on_the_same_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let lock = dir.path().join(".m.safetensors.lock");
    let first = spawn(&[&["train", "--epochs", "1", "--checkpoint", s(&ckpt)][..], &SLOW].concat());
    assert!(
        wait_for(Duration::from_secs(60), || lock.exists()),
        "the first run takes its lock"
    );
    let e = fails(hinet().args(["train", "--rows", "2000", "--epochs", "1", "--checkpoint", s(&ckpt)]));
    assert!(e.contains("another hinet run"), "{e}");
    assert!(!e.contains("epoch 1/"), "{e}");
    let (status, e) = stderr_of(first);
    assert!(status.success(), "the first run is unaffected: {e}");
    ok(hinet().args(["eval", s(&ckpt), "--json"]));
    // The lock ends with the run: the same path is free again.
    ok(hinet().args([
        "train",
        "--rows",
        "2000",
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
}

#[test]
fn a_checkpoint_changed_under_a_run_is_reported_and_not_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let run = spawn(&[&["train", "--epochs", "2", "--checkpoint", s(&ckpt)][..], &SLOW].concat());
    assert!(
        wait_for(Duration::from_secs(300), || ckpt.exists()),
        "epoch 1 writes the checkpoint"
    );
    std::fs::write(&ckpt, b"someone else's file").unwrap();
    let (status, e) = stderr_of(run);
    assert!(status.success(), "{e}");
    assert!(e.contains("changed on disk"), "{e}");
    assert!(!e.contains("reloaded"), "{e}");
}

#[test]
fn kill_9_mid_run_leaves_a_loadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("m.safetensors");
    let mut run = spawn(&[&["train", "--epochs", "50", "--checkpoint", s(&ckpt)][..], &SLOW].concat());
    assert!(
        wait_for(Duration::from_secs(300), || ckpt.exists()),
        "epoch 1 writes the checkpoint"
    );
    std::thread::sleep(Duration::from_millis(700));
    run.kill().unwrap(); // SIGKILL on Unix
    let _ = run.wait();
    let out = ok(hinet().args(["eval", s(&ckpt), "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["mean_auc"].as_f64().is_some(), "{v}");
    // The next run on that path is not blocked by the dead run's lock, and clears its leftovers.
    ok(hinet().args([
        "train",
        "--rows",
        "2000",
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---------------------------------------------------------------- class 3: nothing to do

#[test]
fn zero_epochs_and_a_finished_resume_are_refused() {
    let (dir, _csv, schema) = gen_data(2000);
    let ckpt = dir.path().join("m.safetensors");
    let e = fails(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "0",
        "--checkpoint",
        s(&ckpt),
    ]));
    assert!(e.contains("--epochs"), "{e}");
    assert!(!ckpt.exists());
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "2",
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
    let before = std::fs::read(&ckpt).unwrap();
    for epochs in ["2", "1"] {
        let e = fails(hinet().args([
            "train",
            "--resume",
            s(&ckpt),
            "--checkpoint",
            s(&ckpt),
            "--epochs",
            epochs,
        ]));
        assert!(e.contains("--epochs 3"), "says what to pass: {e}");
        assert!(!e.contains("data:"), "before loading data: {e}");
    }
    let e = fails(hinet().args(["train", "--resume", s(&ckpt)]));
    assert!(e.contains("--epochs 3"), "the default --epochs 2 is done too: {e}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), before);
}

// ---------------------------------------------------------------- class 4: numbers

#[test]
fn bad_numbers_are_refused_by_validation_naming_the_option() {
    let train = |args: &[&str]| {
        let start = Instant::now();
        let e = fails(hinet().args(["train", "--rows", "2000", "--epochs", "1"]).args(args));
        assert!(start.elapsed() < Duration::from_secs(20), "{args:?}");
        assert!(!e.contains("data:"), "refused before any work: {e}");
        e
    };
    for (args, option) in [
        (&["--lr", "-0.1"][..], "--lr"),
        (&["--lr", "0"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--clip-norm", "-1"], "--clip-norm"),
        (&["--clip-norm", "0"], "--clip-norm"),
        (&["--embedding-l2", "-0.5"], "--embedding-l2"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--batch-size", "-8"], "--batch-size"),
        (&["--eval-batch-size", "0"], "--eval-batch-size"),
        (&["--patience", "0"], "--patience"),
        (&["--embedding-dim", "0"], "--embedding-dim"),
        (&["--embedding-dim", "-3"], "--embedding-dim"),
        (&["--epochs", "-1"], "--epochs"),
        (&["--rows", "0"], "--rows"),
        (&["--rows", "-5"], "--rows"),
        (&["--users", "0"], "--users"),
        (&["--items", "-1"], "--items"),
        (&["--valid-fraction", "-0.5"], "--valid-fraction"),
        (&["--valid-fraction", "1.5"], "--valid-fraction"),
    ] {
        let e = train(args);
        assert!(e.contains(option), "{args:?}: {e}");
    }
    // --threads: zero, negative, and thousands of busy threads.
    for n in ["0", "-2", "100000", "5000"] {
        let e = fails(assert_cmd::Command::new(env!("CARGO_BIN_EXE_hinet")).args([
            "--threads",
            n,
            "train",
            "--rows",
            "2000",
        ]));
        assert!(e.contains("--threads"), "{n}: {e}");
        // Also when it overrides an earlier --threads (the last one counts).
        let e = fails(hinet().args(["--threads", n, "train", "--rows", "2000"]));
        assert!(e.contains("--threads"), "{n}: {e}");
    }
    // bench: zeros that make no sense (latency percentiles of no calls were NaN).
    for (args, option) in [
        (&["--predict", "--latency-iters", "0"][..], "--latency-iters"),
        (&["--steps", "0"], "--steps"),
        (&["--batch", "0"], "--batch"),
        (&["--batch", "-4"], "--batch"),
        (&["--warmup", "-1"], "--warmup"),
    ] {
        let e = fails(hinet().arg("bench").args(args));
        assert!(e.contains(option), "{args:?}: {e}");
        assert!(!e.contains("NaN"), "{e}");
    }
    // Options that cannot be negative by type (seeds, sizes): a negative number is read as the
    // option's value, not as a flag, and refused naming the option (a usage error, status 2).
    for args in [
        &["train", "--seed", "-1"][..],
        &["train", "--data-seed", "-7"],
        &["eval", "ck", "--batch-size", "-1"],
        &["eval", "ck", "--split-seed", "-3"],
        &["predict", "ck", "in.csv", "-o", "out.csv", "--chunk-rows", "-5"],
        &["gen-data", "--rows", "-100"],
        &["experiment", "--seeds", "-2"],
    ] {
        let out = hinet().args(args).output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        let option = args.iter().find(|a| a.starts_with("--")).unwrap();
        let value = args[args.iter().position(|a| a == option).unwrap() + 1];
        assert!(
            e.contains(&format!("invalid value '{value}' for '{option}")),
            "{args:?}: {e}"
        );
        assert!(!e.contains("unexpected argument"), "{args:?}: {e}");
    }
    let e = fails(hinet().args(["--max-memory", "-1", "train"]));
    assert!(e.contains("--max-memory") && !e.contains("unexpected argument"), "{e}");
}

// ---------------------------------------------------------------- class 5: memory

#[test]
fn huge_models_and_data_are_refused_before_allocating() {
    let (dir, _csv, schema) = gen_data(2000);
    let refused = |cmd: &mut assert_cmd::Command, key: &str| {
        let start = Instant::now();
        let e = fails(cmd);
        assert!(e.contains(key), "names {key}: {e}");
        assert!(start.elapsed() < Duration::from_secs(60), "quickly: {e}");
        e
    };
    let width = (1u64 << 62).to_string();
    refused(
        hinet().args(["train", "--rows", "2000", "--set", &format!("expert_hidden=[{width}]")]),
        "expert_hidden",
    );
    refused(
        hinet().args(["train", "--rows", "2000", "--set", "tower_hidden=[4000000000000]"]),
        "tower_hidden",
    );
    // A vocabulary of 10^9 in a schema: the table is refused, named by its field.
    let text = std::fs::read_to_string(&schema)
        .unwrap()
        .replace("vocab = 2000", "vocab = 1000000000");
    let big = dir.path().join("big-vocab.toml");
    std::fs::write(&big, text).unwrap();
    let e = refused(
        hinet().args(["train", "--epochs", "1", "--schema", s(&big), "--embedding-dim", "64"]),
        "user_id",
    );
    assert!(!e.contains("epoch 1/"), "{e}");
    // The synthetic world and rows. A billion users' latent values are drawn per row, not
    // stored, so what is refused is the model's user table that --users sizes.
    refused(
        hinet().args(["train", "--users", "1000000000", "--rows", "2000"]),
        "field \"user_id\": vocab 1000000000",
    );
    refused(hinet().args(["train", "--rows", "1000000000000"]), "--rows");
    // An explicit limit.
    let e = refused(
        hinet().args(["--max-memory", "1MiB", "train", "--rows", "2000"]),
        "--max-memory",
    );
    assert!(!e.contains("epoch 1/"), "{e}");
    refused(
        hinet().args(["--max-memory", "lots", "train", "--rows", "2000"]),
        "--max-memory",
    );
    // bench builds models from configs too.
    refused(
        hinet().args(["bench", "--steps", "1", "--set", &format!("expert_hidden=[{width}]")]),
        "expert_hidden",
    );
    refused(hinet().args(["bench", "--steps", "1", "--batch", "100000000"]), "batch");
}

// ---------------------------------------------------------------- class 6: where the data is

#[test]
fn a_checkpoint_names_its_schema_absolutely_and_keeps_its_text() {
    let (dir, csv, schema) = gen_data(2000);
    let ckpt = dir.path().join("m.safetensors");
    // Trained with paths relative to the data folder.
    ok(hinet().current_dir(dir.path()).args([
        "train",
        "--epochs",
        "1",
        "--schema",
        "synthetic.toml",
        "--checkpoint",
        "m.safetensors",
        "-q",
    ]));
    let meta = metadata(&ckpt);
    let data: Value = serde_json::from_str(meta["extra.data"].as_str().unwrap()).unwrap();
    let stored = PathBuf::from(data["path"].as_str().unwrap());
    assert!(stored.is_absolute(), "{data}");
    assert_eq!(
        std::fs::canonicalize(&stored).unwrap(),
        std::fs::canonicalize(&schema).unwrap()
    );
    assert_eq!(
        meta["extra.schema_toml"].as_str().unwrap(),
        std::fs::read_to_string(&schema).unwrap()
    );
    let files: Vec<PathBuf> = serde_json::from_str(meta["extra.data_files"].as_str().unwrap()).unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].is_absolute());
    assert_eq!(
        std::fs::canonicalize(&files[0]).unwrap(),
        std::fs::canonicalize(&csv).unwrap()
    );
    // Used from another folder without data options.
    let elsewhere = tempfile::tempdir().unwrap();
    ok(hinet().current_dir(elsewhere.path()).args(["eval", s(&ckpt)]));
    ok(hinet()
        .current_dir(elsewhere.path())
        .args(["train", "--resume", s(&ckpt), "--epochs", "2", "-q"]));
    // The schema moved: the error names the file it needs and what to pass.
    std::fs::rename(&schema, dir.path().join("moved.toml")).unwrap();
    let e = fails(hinet().args(["train", "--resume", s(&ckpt), "--epochs", "3"]));
    assert!(e.contains("synthetic.toml") && e.contains("--schema"), "{e}");
}

// ---------------------------------------------------------------- class 7: inputs out of range

/// The generated data with the column `dense_noise_0` read as is (no normalisation) and set to
/// `value` on every `every`-th row: (schema, csv).
fn raw_dense(dir: &Path, csv: &Path, schema: &Path, value: &str, every: usize) -> (PathBuf, PathBuf) {
    let toml = std::fs::read_to_string(schema).unwrap().replace(
        "column = \"dense_noise_0\"\nnormalize = \"standardize\"",
        "column = \"dense_noise_0\"\nnormalize = \"none\"",
    );
    assert!(toml.contains("normalize = \"none\""), "{toml}");
    let raw_schema = dir.join("raw.toml");
    std::fs::write(&raw_schema, toml).unwrap();
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let i = header.split(',').position(|h| h == "dense_noise_0").unwrap();
    let mut out = format!("{header}\n");
    for (k, line) in lines.enumerate() {
        let mut f: Vec<String> = line.split(',').map(String::from).collect();
        if k % every == 0 {
            f[i] = if k % 2 == 0 {
                value.to_string()
            } else {
                format!("-{value}")
            };
        }
        out += &f.join(",");
        out.push('\n');
    }
    let raw_csv = dir.join("raw.csv");
    std::fs::write(&raw_csv, out).unwrap();
    (raw_schema, raw_csv)
}

#[test]
fn a_dense_value_far_out_of_range_is_reported() {
    let (dir, csv, schema) = gen_data(3000);
    let (raw_schema, raw_csv) = raw_dense(dir.path(), &csv, &schema, "3e38", 1000);
    let report = dir.path().join("r.json");
    let out = hinet()
        .args([
            "train",
            "--epochs",
            "1",
            "--schema",
            s(&raw_schema),
            "--data",
            s(&raw_csv),
        ])
        .args(["--report", s(&report)])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!e.contains("panicked"), "{e}");
    assert!(
        e.contains("WARN") && e.contains("dense column \"dense_noise_0\""),
        "{e}"
    );
    // Far out of range in most rows: the loss overflows, and the error names the rows.
    let (raw_schema, raw_csv) = raw_dense(dir.path(), &csv, &schema, "3e38", 1);
    let e = fails(hinet().args([
        "train",
        "--epochs",
        "1",
        "--schema",
        s(&raw_schema),
        "--data",
        s(&raw_csv),
    ]));
    assert!(e.contains("not finite"), "{e}");
    assert!(e.contains("row"), "names rows: {e}");
    assert!(e.contains("dense_noise_0"), "names the column: {e}");
}

// ---------------------------------------------------------------- classes 2, 8: the run itself

#[test]
fn the_best_epoch_is_reported_from_memory_and_the_report_agrees_with_eval() {
    // A learning rate that overfits: later epochs are worse than the first on validation.
    let (dir, _csv, schema) = gen_data(3000);
    let ckpt = dir.path().join("m.safetensors");
    let report = dir.path().join("r.json");
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "4",
        "--lr",
        "0.05",
        "--checkpoint",
        s(&ckpt),
        "--report",
        s(&report),
        "-q",
    ]));
    let r = report_of(&report);
    let best = r["best_epoch"].as_u64().unwrap();
    assert_eq!(metadata(&ckpt)["extra.epoch"], best.to_string().as_str());
    // Whatever epoch was best, the report's test metrics are the checkpoint's.
    let v: Value = serde_json::from_str(&ok(hinet().args(["eval", s(&ckpt), "--json"]))).unwrap();
    let (a, b) = (r["test_mean_auc"].as_f64().unwrap(), v["mean_auc"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-4, "report {a}, eval {b}");
}
