//! What the command does with the user's files, in one place: every output is checked before
//! any work starts (not a folder, its folder writable, not one of the command's inputs), written
//! to a temporary file beside it and renamed over the target only when complete, so that no
//! mistake, crash or full disk leaves a truncated output or destroys an input.
//!
//! Temporary files are named `.NAME.tmp-PID`; one left by a process that no longer runs (kill -9)
//! is removed the next time anything writes NAME. A training run holds an advisory lock on
//! `.NAME.lock` beside its checkpoint so that two runs never write one checkpoint.
//!
//! An output that is a symbolic link is written through: the file it points to is replaced and
//! the link stays. An output that already exists and is not a regular file (`/dev/null`,
//! `/dev/stdout`, a named pipe) is written directly, as there is nothing there to lose.

use anyhow::{Context, Result, anyhow, bail};
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

/// Whether two paths name one existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (file_id(a), file_id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The folder a path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file an output path writes: the path itself, or the file a symbolic link points to
/// (so the link is kept and its file replaced).
fn resolve(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Whether `path` exists and is something other than a regular file or a folder (a device, a
/// named pipe, a socket): such an output is written in place.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The temporary file this process writes `target` through.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    folder_of(target).join(format!(".{name}.tmp-{}", std::process::id()))
}

/// Checks, before any work, that `path` can take the output `what` (e.g. "--checkpoint"): it is
/// not a folder, its folder exists (it is created when missing) and is writable, it is not a
/// read-only file, and it is not the same file as any of `inputs`. Also removes temporaries of
/// `path` left by dead processes.
pub fn check_output(path: &Path, what: &str, inputs: &[&Path]) -> Result<()> {
    if path.as_os_str().is_empty() {
        bail!("{what}: the path is empty");
    }
    if path.is_dir() || path.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
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
    if is_special(path) {
        return Ok(());
    }
    let target = resolve(path);
    if let Ok(meta) = std::fs::metadata(&target)
        && meta.permissions().readonly()
    {
        bail!(
            "{what} {}: the file is read-only; refusing to replace it (remove it, or give another path)",
            path.display()
        );
    }
    let dir = folder_of(&target);
    if dir.exists() && !dir.is_dir() {
        bail!("{what} {}: {} is not a folder", path.display(), dir.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow!(
            "{what} {}: cannot create its folder {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    // Writable: create and remove the very temporary file the output will be written through.
    let probe = temp_path(&target);
    File::create(&probe).map_err(|e| {
        anyhow!(
            "{what} {}: cannot create a file in its folder {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    remove_stale_temps(&target);
    Ok(())
}

/// Checks an output folder (e.g. `--plots`): not a file, creatable and writable.
pub fn check_output_dir(dir: &Path, what: &str) -> Result<()> {
    if dir.as_os_str().is_empty() {
        bail!("{what}: the path is empty");
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{what} {}: is a file; give a folder", dir.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("{what} {}: cannot create the folder: {e}", dir.display()))?;
    let probe = dir.join(format!(".hinet-probe.tmp-{}", std::process::id()));
    File::create(&probe).map_err(|e| anyhow!("{what} {}: cannot create a file in the folder: {e}", dir.display()))?;
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

/// Removes `.NAME.tmp-PID` files (and folders) beside `target` whose process no longer runs.
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
        if pid == std::process::id() || process_is_running(pid) {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        if removed {
            tracing::info!("removed {}, left by a process that no longer runs", path.display());
        }
    }
}

/// How an [`AtomicFile`] reaches its target.
enum Via {
    /// A temporary file beside the target, renamed over it by `commit`.
    Temp(PathBuf),
    /// The target itself (a device or a pipe: nothing there to lose).
    Direct,
}

/// An output written through a temporary file beside the target: `commit` flushes, syncs and
/// renames it over the target; dropped without `commit` (an error, a panic) it removes the
/// temporary file and leaves the target as it was. Write errors name the target.
pub struct AtomicFile {
    /// The path as the user gave it (for messages).
    shown: PathBuf,
    /// The file replaced at the end (the path, or the file a link points to).
    target: PathBuf,
    via: Via,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (checked with [`check_output`] beforehand).
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let shown = target.to_path_buf();
        if is_special(target) {
            let file = File::options()
                .write(true)
                .open(target)
                .map_err(|e| anyhow!("{}: cannot open: {e}", target.display()))?;
            return Ok(AtomicFile {
                shown,
                target: target.to_path_buf(),
                via: Via::Direct,
                writer: Some(BufWriter::new(file)),
            });
        }
        let resolved = resolve(target);
        let temp = temp_path(&resolved);
        let file =
            File::create(&temp).map_err(|e| anyhow!("{}: cannot create {}: {e}", target.display(), temp.display()))?;
        // A replaced file keeps its permissions.
        if let Ok(meta) = std::fs::metadata(&resolved) {
            let _ = file.set_permissions(meta.permissions());
        }
        Ok(AtomicFile {
            shown,
            target: resolved,
            via: Via::Temp(temp),
            writer: Some(BufWriter::new(file)),
        })
    }

    /// The error of a failed write, naming the output once.
    fn failed(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("{}: cannot write: {e}", self.shown.display()))
    }

    /// Finishes: everything reaches the disk, then the file takes the target's name.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().context("output already committed")?;
        let file = match writer.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let e = self.failed(e.into_error());
                self.discard();
                return Err(e.into());
            }
        };
        match &self.via {
            Via::Direct => Ok(()),
            Via::Temp(temp) => {
                let done = file.sync_all().and_then(|()| {
                    drop(file);
                    std::fs::rename(temp, &self.target)
                });
                if let Err(e) = done {
                    let e = self.failed(e);
                    self.discard();
                    return Err(e.into());
                }
                if let Ok(d) = File::open(folder_of(&self.target)) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
        }
    }

    /// Removes the temporary file.
    fn discard(&self) {
        if let Via::Temp(temp) = &self.via {
            let _ = std::fs::remove_file(temp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = match &mut self.writer {
            Some(w) => w.write(buf),
            None => return Err(std::io::Error::other("output already committed")),
        };
        r.map_err(|e| self.failed(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = match &mut self.writer {
            Some(w) => w.flush(),
            None => return Ok(()),
        };
        r.map_err(|e| self.failed(e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            // Dropped unfinished: drop the buffered bytes without writing them, then the file.
            let _ = w.into_parts();
            self.discard();
        }
    }
}

/// Writes a whole output atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A temporary folder beside `target` (named as its temporary file, `.NAME.tmp-PID`), for an
/// output a library writes by path; removed when dropped. Its files are moved into place with
/// [`TempDir::persist`].
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the folder for `target`'s outputs (a stale one of this pid is replaced).
    pub fn beside(target: &Path) -> Result<TempDir> {
        let path = temp_path(&resolve(target));
        if path.exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
        std::fs::create_dir(&path)
            .map_err(|e| anyhow!("{}: cannot create the folder {}: {e}", target.display(), path.display()))?;
        Ok(TempDir { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs `name` in the folder and renames it over `target`.
    pub fn persist(&self, name: &str, target: &Path) -> Result<()> {
        let from = self.path.join(name);
        let to = resolve(target);
        let fail = |e: std::io::Error| anyhow!("{}: cannot write: {e}", target.display());
        File::open(&from).and_then(|f| f.sync_all()).map_err(fail)?;
        std::fs::rename(&from, &to).map_err(fail)?;
        if let Ok(d) = File::open(folder_of(&to)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
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
        .map_err(|e| {
            anyhow!(
                "{what} {}: cannot open the lock file {}: {e}",
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
            bail!("{what} {}: cannot lock {}: {e}", target.display(), lock.display())
        }
    }
}
