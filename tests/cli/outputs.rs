//! What `hinet` does with the user's files (docs/cli.md, "What hinet promises about your
//! files"): no command writes onto a file it reads; outputs are checked before any work and
//! written through a temporary file renamed at the end, so an error, a kill or a full disk
//! leaves the previous file or none; temporaries of dead processes are removed by the next run;
//! checkpoint metadata that decides what the numbers mean is never replaced by a default; a
//! checkpoint's schema is found from any folder; columns a command does not need are not
//! required.
#![cfg(unix)]

use crate::{fails, gen_data, hinet, ok, s};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Generated data and a checkpoint trained on it: (dir guard, csv, schema, checkpoint).
fn trained(rows: usize) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let (dir, csv, schema) = gen_data(rows);
    let ckpt = dir.path().join("m.safetensors");
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "1",
        "--checkpoint",
        s(&ckpt),
        "-q",
    ]));
    (dir, csv, schema, ckpt)
}

/// Files whose name holds `.tmp-` in `dir` (temporaries left behind).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// A process id that is not running: the id of a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || !cfg!(target_os = "linux"));
    pid
}

/// Rewrites a checkpoint (safetensors: 8-byte header length, JSON header, tensor bytes):
/// `edit` changes its metadata; tensors whose name `keep` refuses are dropped with their bytes.
fn rewrite_checkpoint(path: &Path, edit: impl FnOnce(&mut Map<String, Value>), keep: impl Fn(&str) -> bool) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut meta = header["__metadata__"].as_object().unwrap().clone();
    edit(&mut meta);
    let mut tensors: Vec<(String, Value)> = header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__" && keep(k))
        .collect();
    tensors.sort_by_key(|(_, v)| v["data_offsets"][0].as_u64().unwrap());
    let mut out_data = Vec::new();
    let mut out = Map::new();
    out.insert("__metadata__".into(), Value::Object(meta));
    for (name, mut v) in tensors {
        let (a, b) = (
            v["data_offsets"][0].as_u64().unwrap() as usize,
            v["data_offsets"][1].as_u64().unwrap() as usize,
        );
        let start = out_data.len();
        out_data.extend_from_slice(&data[a..b]);
        v["data_offsets"] = serde_json::json!([start, out_data.len()]);
        out.insert(name, v);
    }
    let mut text = serde_json::to_string(&Value::Object(out)).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut file = (text.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(text.as_bytes());
    file.extend_from_slice(&out_data);
    std::fs::write(path, file).unwrap();
}

/// Sets (`Some`) or removes (`None`) the metadata key `extra.KEY` of a checkpoint.
fn set_extra(path: &Path, key: &str, value: Option<&str>) {
    rewrite_checkpoint(
        path,
        |m| match value {
            Some(v) => {
                m.insert(format!("extra.{key}"), Value::String(v.into()));
            }
            None => {
                m.remove(&format!("extra.{key}"));
            }
        },
        |_| true,
    );
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// ------------------------------------------------------------------ class 1: outputs onto inputs

/// `predict CK in.csv -o in.csv` (and the same file by a hard link or a symlink, the checkpoint,
/// the schema) is refused before anything is written; every input is left as it was.
#[test]
fn predict_never_writes_onto_an_input() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let before = std::fs::read(&csv).unwrap();
    let ckpt_before = std::fs::read(&ckpt).unwrap();
    let schema_before = std::fs::read(&schema).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&csv, &hard).unwrap();
    let soft = dir.path().join("soft.csv");
    std::os::unix::fs::symlink(&csv, &soft).unwrap();
    for out in [&csv, &hard, &soft, &ckpt, &schema] {
        let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(out)]));
        assert!(err.contains("is the input"), "{err}");
        assert!(err.contains(s(out)), "{err}");
    }
    // The input named through the link, the output its target.
    let err = fails(hinet().args(["predict", s(&ckpt), s(&soft), "--schema", s(&schema), "-o", s(&csv)]));
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    assert_eq!(std::fs::read(&ckpt).unwrap(), ckpt_before);
    assert_eq!(std::fs::read(&schema).unwrap(), schema_before);
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

/// `eval CK --report CK` would replace the checkpoint with JSON: refused, as is a report onto
/// the schema or the data it reads; the checkpoint still evaluates afterwards.
#[test]
fn eval_report_never_replaces_an_input() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let ckpt_before = std::fs::read(&ckpt).unwrap();
    for (report, extra) in [(&ckpt, vec![]), (&schema, vec![]), (&csv, vec!["--schema", s(&schema)])] {
        let err = fails(
            hinet()
                .args(["eval", s(&ckpt), "--split", "all", "--report", s(report)])
                .args(&extra),
        );
        assert!(err.contains("is the input") && err.contains("--report"), "{err}");
    }
    assert_eq!(std::fs::read(&ckpt).unwrap(), ckpt_before);
    let report = dir.path().join("r.json");
    ok(hinet().args(["eval", s(&ckpt), "--split", "all", "--report", s(&report)]));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["command"], "eval");
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

/// Output paths are checked before any work: a folder, a path under a file, a read-only file,
/// a `--report` naming a folder. Nothing is created.
#[test]
fn bad_output_paths_are_refused_before_any_work() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let p = |out: &Path| fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(out)]));
    let err = p(dir.path());
    assert!(err.contains("--output") && err.contains("is a folder"), "{err}");
    let err = p(&csv.join("out.csv"));
    assert!(err.contains("is not a folder"), "{err}");
    let readonly = dir.path().join("readonly.csv");
    std::fs::write(&readonly, "keep me\n").unwrap();
    let mut perms = std::fs::metadata(&readonly).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&readonly, perms).unwrap();
    let err = p(&readonly);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(std::fs::read_to_string(&readonly).unwrap(), "keep me\n");
    let err = fails(hinet().args(["eval", s(&ckpt), "--split", "all", "--report", s(dir.path())]));
    assert!(err.contains("--report") && err.contains("is a folder"), "{err}");
    // An unknown --split is refused before the data is read.
    let err = fails(hinet().args(["eval", s(&ckpt), "--split", "tset"]));
    assert!(err.contains("--split \"tset\""), "{err}");
    // A folder that does not exist yet is created for the output.
    let nested = dir.path().join("new/deeper/p.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&nested)]));
    assert!(nested.is_file());
}

/// An output that is a symbolic link is written through: the link stays, its file is replaced.
/// A device output (`/dev/null`) is written in place, not replaced.
#[test]
fn symlinked_and_device_outputs() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let real = dir.path().join("real.csv");
    std::fs::write(&real, "old\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&link)]));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .starts_with("row,p_ctr,p_ctcvr\n")
    );
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", "/dev/null"]));
    assert!(Path::new("/dev/null").exists());
}

/// A predict that fails mid-way (a bad row far into the input, after chunks were scored and
/// written) leaves the previous output exactly as it was and no temporary file.
#[test]
fn predict_error_mid_way_leaves_the_previous_output() {
    let (dir, csv, schema, ckpt) = trained(6000);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[5000] = lines[5000].replacen(',', ",not-an-id,", 1);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("out.csv");
    std::fs::write(&out, "previous\n").unwrap();
    let err = fails(
        hinet()
            .args(["predict", s(&ckpt), s(&bad), "--schema", s(&schema), "-o", s(&out)])
            .args(["--chunk-rows", "500"]),
    );
    assert!(err.contains("bad.csv:5001"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous\n");
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

/// gen-data: outputs checked before generating (a file as --out, a folder where the CSV goes,
/// a name with a folder in it); a rerun replaces both files whole; no temporaries remain.
#[test]
fn gen_data_checks_and_replaces_its_outputs_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = fails(hinet().args(["gen-data", "--rows", "100", "--out", s(&file)]));
    assert!(err.contains("--out") && err.contains("is a file"), "{err}");
    let err = fails(hinet().args([
        "gen-data",
        "--rows",
        "100",
        "--name",
        "../escape",
        "--out",
        s(dir.path()),
    ]));
    assert!(err.contains("--name"), "{err}");
    let out = dir.path().join("d");
    std::fs::create_dir_all(out.join("synthetic.csv")).unwrap();
    let err = fails(hinet().args(["gen-data", "--rows", "100", "--out", s(&out)]));
    assert!(err.contains("synthetic.csv") && err.contains("is a folder"), "{err}");
    assert!(!out.join("synthetic.toml").exists(), "nothing written");
    std::fs::remove_dir(out.join("synthetic.csv")).unwrap();
    ok(hinet().args(["gen-data", "--rows", "300", "--out", s(&out)]));
    ok(hinet().args(["gen-data", "--rows", "200", "--seed", "7", "--out", s(&out)]));
    let csv = std::fs::read_to_string(out.join("synthetic.csv")).unwrap();
    assert_eq!(csv.lines().count(), 201, "the second run's rows, whole");
    let schema = std::fs::read_to_string(out.join("synthetic.toml")).unwrap();
    assert!(schema.contains("path = \"synthetic.csv\""), "{schema}");
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    // The pair reads back.
    ok(hinet().args([
        "train",
        "--schema",
        s(&out.join("synthetic.toml")),
        "--epochs",
        "1",
        "-q",
    ]));
}

/// experiment: --out is checked before anything is trained or read, and `--from` never has its
/// input replaced by the report it writes.
#[test]
fn experiment_outputs_checked_first_and_never_onto_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = fails(hinet().args(["experiment", "--quick", "--datasets", "synthetic", "--out", s(&file)]));
    assert!(err.contains("--out") && err.contains("is a file"), "{err}");
    // results.md of --out is the --from file itself (a hard link): refused, input kept.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let from = dir.path().join("results.json");
    std::fs::write(&from, "{}").unwrap();
    std::fs::hard_link(&from, out.join("results.md")).unwrap();
    let err = fails(hinet().args(["experiment", "--from", s(&from), "--out", s(&out)]));
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read_to_string(&from).unwrap(), "{}");
    // A device as --from would be read forever: refused.
    let err = fails(hinet().args(["experiment", "--from", "/dev/zero", "--out", s(&out)]));
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
}

/// Training plots and report: written whole (PNG files), and temporaries a killed run left
/// beside them are removed.
#[test]
fn train_plots_and_report_leave_no_temporaries() {
    let (dir, _csv, schema) = gen_data(2000);
    let plots = dir.path().join("plots");
    let report = dir.path().join("r.json");
    let pid = dead_pid();
    std::fs::create_dir_all(&plots).unwrap();
    std::fs::write(plots.join(format!(".loss.png.tmp-{pid}")), "half a picture").unwrap();
    std::fs::write(dir.path().join(format!(".r.json.tmp-{pid}")), "{").unwrap();
    ok(hinet().args([
        "train",
        "--schema",
        s(&schema),
        "--epochs",
        "1",
        "--plots",
        s(&plots),
        "--report",
        s(&report),
        "-q",
    ]));
    for png in ["loss.png", "auc.png", "san_attention.png"] {
        let bytes = std::fs::read(plots.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png} is a PNG");
    }
    assert!(temporaries(&plots).is_empty(), "{:?}", temporaries(&plots));
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

// ------------------------------------------------------------------ class 2: metadata

/// A split that cannot be read (or is missing) is an error naming the checkpoint and the key,
/// never a default split whose "test" rows could be training rows. `--split all` and
/// `--split-seed` are the explicit ways around it.
#[test]
fn eval_never_guesses_the_split() {
    let (_dir, _csv, schema, ckpt) = trained(3000);
    let json = |args: &[&str]| -> Value {
        serde_json::from_str(&ok(hinet().args(["eval", s(&ckpt), "--json"]).args(args))).unwrap()
    };
    let test_rows = json(&[])["rows"].clone();
    set_extra(&ckpt, "split", Some("{\"by\": \"hash\", \"train\": 0.8"));
    let err = fails(hinet().args(["eval", s(&ckpt)]));
    assert!(err.contains("extra.split") && err.contains(s(&ckpt)), "{err}");
    for split in ["valid", "train"] {
        let err = fails(hinet().args(["eval", s(&ckpt), "--split", split]));
        assert!(err.contains("extra.split"), "{err}");
    }
    set_extra(&ckpt, "split", None);
    let err = fails(hinet().args(["eval", s(&ckpt)]));
    assert!(
        err.contains("has no extra.split") && err.contains("--split all"),
        "{err}"
    );
    assert_eq!(json(&["--split", "all"])["rows"], 3000);
    assert_eq!(json(&["--split", "all", "--schema", s(&schema)])["rows"], 3000);
    // The training run used the default seed: choosing it explicitly gives the same test rows.
    assert_eq!(json(&["--split-seed", "2024"])["rows"], test_rows);
}

/// The data description, the dense normaliser (the data has dense columns) and the feature
/// spec: unreadable or missing is an error naming the checkpoint and the key, for eval and
/// predict alike.
#[test]
fn metadata_that_decides_the_numbers_is_never_defaulted() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let original = std::fs::read(&ckpt).unwrap();
    let out = dir.path().join("p.csv");
    let predict = || fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&out)]));
    let eval = || fails(hinet().args(["eval", s(&ckpt), "--split", "all"]));

    set_extra(&ckpt, "data", Some("{\"kind\": \"schema\""));
    let err = eval();
    assert!(err.contains("extra.data") && err.contains(s(&ckpt)), "{err}");
    let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "-o", s(&out)]));
    assert!(err.contains("extra.data"), "{err}");
    // Naming the data is the explicit way around it.
    ok(hinet().args(["eval", s(&ckpt), "--split", "all", "--schema", s(&schema)]));

    for (key, value) in [
        ("dense_normalizer", Some("{\"columns\": 3}")),
        ("dense_normalizer", None),
    ] {
        std::fs::write(&ckpt, &original).unwrap();
        set_extra(&ckpt, key, value);
        for err in [eval(), predict()] {
            assert!(
                err.contains("extra.dense_normalizer") && err.contains(s(&ckpt)),
                "{err}"
            );
        }
    }
    std::fs::write(&ckpt, &original).unwrap();
    set_extra(&ckpt, "feature_spec", Some("[1, 2"));
    for err in [eval(), predict()] {
        assert!(err.contains("extra.feature_spec"), "{err}");
    }
    assert!(!out.exists(), "no output from a refused run");
}

// ------------------------------------------------------------------ class 3: inference load

/// eval and predict need the parameters and config only: a checkpoint of any optimiser, and
/// one without optimiser state at all, evaluates and predicts.
#[test]
fn eval_and_predict_do_not_need_the_optimiser_state() {
    let (dir, csv, schema) = gen_data(2000);
    for optimizer in ["sgd", "adagrad"] {
        let ckpt = dir.path().join(format!("{optimizer}.safetensors"));
        ok(hinet().args([
            "train",
            "--schema",
            s(&schema),
            "--epochs",
            "1",
            "--optimizer",
            optimizer,
            "--checkpoint",
            s(&ckpt),
            "-q",
        ]));
        ok(hinet().args(["eval", s(&ckpt), "--split", "all"]));
    }
    let ckpt = dir.path().join("sgd.safetensors");
    let out = dir.path().join("before.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "-o", s(&out)]));
    rewrite_checkpoint(
        &ckpt,
        |m| {
            m.remove("optim.meta");
        },
        |name| !name.starts_with("optim."),
    );
    let stripped = dir.path().join("after.csv");
    ok(hinet().args(["eval", s(&ckpt), "--split", "all"]));
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "-o", s(&stripped)]));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&stripped).unwrap());
}

// ------------------------------------------------------------------ class 4: the stored schema

/// A checkpoint used from another folder finds its schema: a relative path recorded in it
/// (older checkpoints) is looked for from the checkpoint's folder. Without the file and
/// without a stored copy, the error names the file needed and prints the OS message at most once.
#[test]
fn stored_schema_is_found_from_another_folder() {
    let (dir, csv, _schema, ckpt) = trained(2000);
    // As if trained inside the data folder: `--schema synthetic.toml`.
    set_extra(
        &ckpt,
        "data",
        Some("{\"kind\":\"schema\",\"path\":\"synthetic.toml\",\"files\":[]}"),
    );
    set_extra(&ckpt, "schema_path", None);
    set_extra(&ckpt, "schema_toml", None);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = elsewhere.path().join("p.csv");
    ok(hinet()
        .current_dir(elsewhere.path())
        .args(["eval", s(&ckpt), "--split", "all"]));
    ok(hinet()
        .current_dir(elsewhere.path())
        .args(["predict", s(&ckpt), s(&csv), "-o", s(&out)]));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2001);
    // Gone: the error says which schema is needed, and how to give it.
    let moved = dir.path().join("moved.toml");
    std::fs::rename(dir.path().join("synthetic.toml"), &moved).unwrap();
    let err = fails(
        hinet()
            .current_dir(elsewhere.path())
            .args(["eval", s(&ckpt), "--split", "all"]),
    );
    assert!(err.contains("synthetic.toml") && err.contains("--schema"), "{err}");
    // A missing --schema: the OS message once, with the path.
    let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", "no-such.toml", "-o", s(&out)]));
    assert!(err.contains("no-such.toml"), "{err}");
    assert!(count(&err, "No such file or directory") <= 1, "{err}");
    let err = fails(hinet().args(["eval", s(&ckpt), "--schema", "no-such.toml", "--split", "all"]));
    assert!(err.contains("no-such.toml"), "{err}");
    assert!(count(&err, "No such file or directory") <= 1, "{err}");
}

/// With the schema's text stored in the checkpoint (`extra.schema_toml`), a schema file that is
/// gone or changed is replaced by the stored copy, and the log says so.
#[test]
fn stored_schema_text_is_used_when_the_file_is_gone_or_changed() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let text = std::fs::read_to_string(&schema).unwrap();
    set_extra(&ckpt, "schema_toml", Some(&text));
    let expected = ok(hinet().args(["eval", s(&ckpt), "--split", "all", "--json"]));
    let auc = |json: &str| serde_json::from_str::<Value>(json).unwrap()["mean_auc"].clone();
    // Changed after training: the scenario values in another order (read as they are now, the
    // rows would go to other scenarios and the model would not match).
    let changed = text.replace(
        "scenarios = [\"s0\", \"s1\", \"s2\", \"s3\", \"s4\", \"s5\"]",
        "scenarios = [\"s5\", \"s4\", \"s3\", \"s2\", \"s1\", \"s0\"]",
    );
    assert_ne!(changed, text);
    std::fs::write(&schema, changed).unwrap();
    let out = hinet()
        .args(["eval", s(&ckpt), "--split", "all", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("has changed") && stderr.contains("stored"), "{stderr}");
    assert_eq!(auc(&String::from_utf8_lossy(&out.stdout)), auc(&expected));
    // The changed file was read to compare: it is an input no output may replace.
    let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "-o", s(&schema)]));
    assert!(err.contains("is the input"), "{err}");
    // Gone.
    std::fs::remove_file(&schema).unwrap();
    let out = hinet()
        .args(["eval", s(&ckpt), "--split", "all", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not found") && stderr.contains("stored"), "{stderr}");
    assert_eq!(auc(&String::from_utf8_lossy(&out.stdout)), auc(&expected));
    let p = dir.path().join("p.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "-o", s(&p)]));
}

// ------------------------------------------------------------------ class 5: unneeded columns

/// Data to score has neither label nor oracle columns: predict needs neither, and gives the
/// same probabilities as on the full file.
#[test]
fn predict_needs_no_label_or_oracle_columns() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let full = dir.path().join("full.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&full)]));
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let drop = ["ctr", "ctcvr", "oracle_ctr", "oracle_ctcvr"];
    assert!(drop.iter().all(|d| header.contains(d)), "{header:?}");
    // The CSV without the named columns, written to `name`.
    let without = |columns: &[&str], name: &str| {
        let keep: Vec<usize> = (0..header.len()).filter(|&i| !columns.contains(&header[i])).collect();
        let body: String = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",") + "\n"
            })
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let bare = without(&drop, "bare.csv");
    let out = dir.path().join("bare-p.csv");
    ok(hinet().args(["predict", s(&ckpt), s(&bare), "--schema", s(&schema), "-o", s(&out)]));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&full).unwrap());
    // eval needs the labels but not the oracle columns: without them it reports the model's
    // AUC (the same as on the full file) and no oracle column.
    let no_oracle = without(&["oracle_ctr", "oracle_ctcvr"], "no-oracle.csv");
    let eval = |data: &Path, json: bool| {
        let mut cmd = hinet();
        cmd.args([
            "eval",
            s(&ckpt),
            "--data",
            s(data),
            "--schema",
            s(&schema),
            "--split",
            "all",
        ]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let (with, without) = (eval(&csv, false), eval(&no_oracle, false));
    assert!(with.contains("AUC (oracle)"), "{with}");
    assert!(without.contains("AUC") && !without.contains("oracle"), "{without}");
    let mean_auc = |json: String| serde_json::from_str::<Value>(&json).unwrap()["mean_auc"].as_f64();
    let (with, without) = (mean_auc(eval(&csv, true)), mean_auc(eval(&no_oracle, true)));
    assert!(with.is_some_and(|a| a > 0.5), "{with:?}");
    assert_eq!(with, without);
}

// ------------------------------------------------------------------ class 6: stale temporaries

/// A temporary left by a killed run (`.NAME.tmp-PID`, its process gone) is removed by the next
/// run that writes NAME: predict, eval --report, gen-data (a file or a folder). One of a
/// running process is left alone.
#[test]
fn stale_temporaries_are_removed_by_the_next_run() {
    let (dir, csv, schema, ckpt) = trained(2000);
    let pid = dead_pid();
    let out = dir.path().join("out.csv");
    let stale = dir.path().join(format!(".out.csv.tmp-{pid}"));
    std::fs::write(&stale, "half a file").unwrap();
    let live = dir.path().join(format!(".out.csv.tmp-{}", std::process::id()));
    std::fs::write(&live, "still being written").unwrap();
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&out)]));
    assert!(!stale.exists(), "stale temporary removed");
    assert!(live.exists(), "a running process's temporary is kept");
    std::fs::remove_file(&live).unwrap();
    let report = dir.path().join("r.json");
    let stale = dir.path().join(format!(".r.json.tmp-{pid}"));
    std::fs::write(&stale, "{").unwrap();
    ok(hinet().args(["eval", s(&ckpt), "--split", "all", "--report", s(&report)]));
    assert!(!stale.exists());
    let g = dir.path().join("g");
    std::fs::create_dir_all(g.join(format!(".synthetic.csv.tmp-{pid}"))).unwrap();
    std::fs::write(g.join(format!(".synthetic.csv.tmp-{pid}/synthetic.csv")), "x").unwrap();
    std::fs::write(g.join(format!(".synthetic.toml.tmp-{pid}")), "x").unwrap();
    ok(hinet().args(["gen-data", "--rows", "100", "--out", s(&g)]));
    assert!(temporaries(&g).is_empty(), "{:?}", temporaries(&g));
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

/// kill -9 during predict: the output is the previous file or the complete new one, never a
/// part; the temporary it leaves is removed by the next run.
#[test]
fn killed_predict_leaves_the_previous_output_or_the_whole_new_one() {
    let (dir, csv, schema, ckpt) = trained(60_000);
    let out = dir.path().join("out.csv");
    std::fs::write(&out, "previous\n").unwrap();
    for delay_ms in [300u64, 900] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hinet"))
            .args([
                "-q",
                "--threads",
                "1",
                "predict",
                s(&ckpt),
                s(&csv),
                "--schema",
                s(&schema),
            ])
            .args(["-o", s(&out), "--chunk-rows", "2000", "--batch-size", "500"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text == "previous\n" || text.lines().count() == 60_001,
            "a partial output: {} lines",
            text.lines().count()
        );
    }
    ok(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&out)]));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 60_001);
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
}

// ------------------------------------------------------------------ class 7: a full disk

/// A tiny tmpfs, unmounted when dropped; `None` (and one line saying the test is skipped) where
/// mounting is not permitted.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(test: &str) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", s(dir.path())])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !mounted {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: cannot mount a 64 KiB tmpfs here (needs root)"
            );
            return None;
        }
        Some(TinyDisk { dir })
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(self.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A full disk: the error names the output file, and no partial output or temporary remains
/// (predict, eval --report, gen-data). A device that is always full (`/dev/full`) too.
#[test]
fn full_disk_names_the_file_and_leaves_nothing_partial() {
    let (_dir, csv, schema, ckpt) = trained(5000);
    if Path::new("/dev/full").exists() {
        let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", "/dev/full"]));
        assert!(err.contains("/dev/full") && err.contains("No space left"), "{err}");
    }
    let Some(disk) = TinyDisk::mount("full_disk_names_the_file_and_leaves_nothing_partial") else {
        return;
    };
    // 5000 rows of predictions are about 110 KB: more than the disk holds.
    let out = disk.path().join("out.csv");
    let err = fails(hinet().args(["predict", s(&ckpt), s(&csv), "--schema", s(&schema), "-o", s(&out)]));
    assert!(err.contains(s(&out)) && err.contains("No space left"), "{err}");
    assert!(disk.entries().is_empty(), "{:?}", disk.entries());
    let err = fails(hinet().args(["gen-data", "--rows", "5000", "--out", s(disk.path())]));
    assert!(err.contains("synthetic.csv") && err.contains("No space left"), "{err}");
    assert!(disk.entries().is_empty(), "{:?}", disk.entries());
    // Fill the disk, then a report that does not fit.
    let filler = disk.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 64 * 1024]);
    let report = disk.path().join("r.json");
    let err = fails(hinet().args(["eval", s(&ckpt), "--split", "all", "--report", s(&report)]));
    assert!(err.contains("r.json") && err.contains("No space left"), "{err}");
    assert_eq!(disk.entries(), vec!["filler".to_string()]);
}
