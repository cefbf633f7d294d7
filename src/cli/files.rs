//! What the command does with the user's files, in one place: every output is checked before
//! any work starts (not a folder, its folder writable, not one of the command's inputs), written
//! to a temporary file beside it and renamed over the target only when complete, so that no
//! mistake, crash or full disk leaves a truncated output or destroys an input.
//!
//! Temporary files are named `.NAME.tmp-PID`; one left by a process that no longer runs (kill -9)
//! is removed the next time anything writes NAME. A training run holds an advisory lock on
//! `.NAME.lock` beside its checkpoint so that two runs never write one checkpoint.

// Used by the commands as they adopt it (issue 13); remove once every item has a caller.
#![allow(dead_code)]

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The identity of an existing file: device and inode where the platform has them, else the
/// canonical path. Two paths name the same file exactly when their identities are equal
/// (hard links and symlinks included).
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg_attr(unix, allow(dead_code))]
    Canonical(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(FileId::Inode(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        std::fs::canonicalize(path).ok().map(FileId::Canonical)
    }
}

/// The folder a path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary file this process writes `target` through.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    folder_of(target).join(format!(".{name}.tmp-{}", std::process::id()))
}

/// Checks, before any work, that `path` can take the output `what` (e.g. "--checkpoint"): it is
/// not a folder, its folder exists (it is created when missing) and is writable, and it is not
/// the same file as any of `inputs`. Also removes temporaries of `path` left by dead processes.
pub fn check_output(path: &Path, what: &str, inputs: &[&Path]) -> Result<()> {
    if path.as_os_str().is_empty() {
        bail!("{what}: the path is empty");
    }
    if path.is_dir() {
        bail!("{what} {}: is a folder; give a file path", path.display());
    }
    if path.file_name().is_none() {
        bail!("{what} {}: not a file path", path.display());
    }
    if let Some(out) = file_id(path) {
        for input in inputs {
            if file_id(input).as_ref() == Some(&out) {
                bail!(
                    "{what} {}: is the input {}; refusing to write onto a file this command reads",
                    path.display(),
                    input.display()
                );
            }
        }
    }
    let dir = folder_of(path);
    std::fs::create_dir_all(dir).with_context(|| format!("{what} {}: cannot create its folder", path.display()))?;
    // Writable: create and remove the very temporary file the output will be written through.
    let probe = temp_path(path);
    File::create(&probe).with_context(|| format!("{what} {}: its folder is not writable", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    remove_stale_temps(path);
    Ok(())
}

/// Checks an output folder (e.g. `--plots`): not a file, creatable and writable.
pub fn check_output_dir(dir: &Path, what: &str) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{what} {}: is a file; give a folder", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{what} {}: cannot create the folder", dir.display()))?;
    let probe = dir.join(format!(".hinet-probe.tmp-{}", std::process::id()));
    File::create(&probe).with_context(|| format!("{what} {}: the folder is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Whether a process id names a running process (Linux: /proc/PID exists). Elsewhere every
/// process counts as running, so nothing is removed that might still be written.
fn process_is_running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes `.NAME.tmp-PID` files beside `target` whose process no longer runs.
pub fn remove_stale_temps(target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(folder_of(target)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_is_running(pid) && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(
                "removed {}, left by a process that no longer runs",
                entry.path().display()
            );
        }
    }
}

/// An output written through a temporary file beside the target: `commit` flushes, syncs and
/// renames it over the target; dropped without `commit` (an error, a panic) it removes the
/// temporary file and leaves the target as it was.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (checked with [`check_output`] beforehand).
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let temp = temp_path(target);
        let file =
            File::create(&temp).with_context(|| format!("{}: cannot create {}", target.display(), temp.display()))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Finishes: everything reaches the disk, then the file takes the target's name.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().context("output already committed")?;
        let what = |e: std::io::Error| anyhow::anyhow!("{}: cannot write: {e}", self.target.display());
        let file = writer.into_inner().map_err(|e| what(e.into_error()))?;
        file.sync_all().map_err(what)?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(what)?;
        if let Ok(d) = File::open(folder_of(&self.target)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.writer {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("output already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes a whole output atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes)
        .with_context(|| format!("{}: cannot write", target.display()))?;
    f.commit()
}

/// An advisory lock on `.NAME.lock` beside a checkpoint, held while a run may write it.
pub struct OutputLock {
    _file: File,
}

/// Takes the lock for `target`, or says which run holds it.
pub fn lock_output(target: &Path, what: &str) -> Result<OutputLock> {
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let lock = folder_of(target).join(format!(".{name}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .with_context(|| {
            format!(
                "{what} {}: cannot open the lock file {}",
                target.display(),
                lock.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(OutputLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{what} {}: another hinet run is writing it (it holds {}); give another path or wait for it",
            target.display(),
            lock.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("{what} {}: cannot lock {}", target.display(), lock.display()))
        }
    }
}
