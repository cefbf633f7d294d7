//! What `hinet train` writes and how it keeps it safe: every output checked before any work,
//! the checkpoint's lock, and noticing a checkpoint changed on disk by someone else.

use super::*;

use super::super::config;
use super::super::data::{self, DataDesc};
use super::super::files;
use super::super::plots;
use anyhow::{Result, bail};
use hinet_model::Trainer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What identifies the file this run last wrote at a path, to notice another program
/// replacing or editing it (an atomic write makes a new inode; an edit changes size or time).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stamp {
    pub(super) len: u64,
    pub(super) modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    pub(super) inode: (u64, u64),
}

pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

/// The checkpoint output of a run: the path, its lock (held until the run ends), what this run
/// last wrote there, and whether a change by someone else was reported.
pub(super) struct CheckpointOut {
    pub(super) path: PathBuf,
    /// The file written: `path`, or the file a symbolic link there points to.
    pub(super) target: PathBuf,
    pub(super) _lock: files::OutputLock,
    pub(super) written: Option<(Stamp, usize)>,
    pub(super) warned: bool,
}

impl CheckpointOut {
    /// Warns (once) when the file is no longer what this run last wrote (or found at start).
    pub(super) fn notice_change(&mut self) {
        let Some((before, epoch)) = &self.written else {
            return;
        };
        if self.warned || stamp(&self.target).as_ref() == Some(before) {
            return;
        }
        self.warned = true;
        let when = if *epoch == 0 {
            "this run started".to_string()
        } else {
            format!("this run wrote it after epoch {epoch}")
        };
        tracing::warn!(
            "checkpoint {} changed on disk since {when} (another program replaced, edited or removed it); \
             this run's best model is kept in memory and its test metrics use that, not the file",
            self.path.display()
        );
    }

    pub(super) fn save(
        &mut self,
        trainer: &Trainer<f32>,
        extra: &BTreeMap<String, String>,
        epoch: usize,
    ) -> Result<()> {
        self.save_with(|temp| Ok(trainer.save(temp, extra)?), epoch)
    }

    /// Writes the checkpoint with `write` (given a temporary path beside it), then renames it
    /// into place.
    pub(super) fn save_with(&mut self, write: impl FnOnce(&Path) -> Result<()>, epoch: usize) -> Result<()> {
        self.notice_change();
        // Stamp the file before it takes the checkpoint's name (a rename keeps its inode, size
        // and time): stamped after, a file another program wrote in between would pass as ours.
        let temp = files::temp_path(&self.target);
        write(&temp)?;
        let written = stamp(&temp);
        if let Err(e) = std::fs::rename(&temp, &self.target) {
            let _ = std::fs::remove_file(&temp);
            return Err(anyhow::Error::new(e).context(format!("checkpoint {}: cannot write", self.path.display())));
        }
        self.written = written.map(|s| (s, epoch));
        tracing::debug!("checkpoint written to {}", self.path.display());
        Ok(())
    }
}

/// The files this run reads, absolute: outputs may not be any of them.
pub(super) fn input_paths(args: &TrainArgs, desc: &DataDesc) -> Vec<PathBuf> {
    let mut inputs = data::input_files(desc, &args.data);
    if let Some(c) = &args.config
        && !config::BUILT_IN.contains(&c.as_str())
    {
        inputs.push(data::absolute(Path::new(c)));
    }
    inputs
}

/// Checks every output before any work: not an input, not a folder, its folder there and
/// writable, no two outputs one file; takes the checkpoint's lock. `--resume C --checkpoint C`
/// (continuing in place) is allowed: the checkpoint is read whole before training and every
/// write replaces it atomically.
pub(super) fn check_outputs(args: &TrainArgs, inputs: &[PathBuf]) -> Result<Option<CheckpointOut>> {
    let resume = args.resume.as_deref();
    let all: Vec<&Path> = inputs.iter().map(PathBuf::as_path).chain(resume).collect();
    let mut taken: Vec<(&str, PathBuf)> = Vec::new();
    let mut distinct = |what: &'static str, path: &Path| -> Result<()> {
        let abs = data::absolute(path);
        if let Some((other, _)) = taken.iter().find(|(_, p)| *p == abs || files::same_file(p, path)) {
            bail!(
                "{what} {}: is also the {other} output; give each output its own path",
                path.display()
            );
        }
        taken.push((what, abs));
        Ok(())
    };
    let mut out = None;
    if let Some(path) = &args.checkpoint {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if folder.exists() && !folder.is_dir() {
            bail!(
                "--checkpoint {}: {} is not a folder; give a path in an existing folder",
                path.display(),
                folder.display()
            );
        }
        if !path.as_os_str().is_empty() && !folder.is_dir() {
            bail!(
                "--checkpoint {}: the folder {} does not exist; create it first, or give another path \
                 (checked before training, so that no epoch is lost)",
                path.display(),
                folder.display()
            );
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            bail!(
                "--checkpoint {}: is not a regular file (a device or a pipe); a checkpoint is written to a \
                 temporary file and renamed over its path, so give a file path",
                path.display()
            );
        }
        // Continuing in place: the resumed checkpoint is not an input the checkpoint must avoid.
        let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        files::check_output(path, "--checkpoint", &inputs)?;
        distinct("--checkpoint", path)?;
        let lock = files::lock_output(path, "--checkpoint")?;
        // Written through a symbolic link: the link stays, its file is replaced.
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
            _ => path.clone(),
        };
        let written = stamp(&target).map(|s| (s, 0));
        out = Some(CheckpointOut {
            path: path.clone(),
            target,
            _lock: lock,
            written,
            warned: false,
        });
    }
    if let Some(path) = &args.report {
        files::check_output(path, "--report", &all)?;
        distinct("--report", path)?;
    }
    if let Some(dir) = &args.plots {
        plots::check_training_plots(dir, &all)?;
        for name in plots::TRAINING_PLOTS {
            distinct("--plots", &dir.join(name))?;
        }
    }
    Ok(out)
}
