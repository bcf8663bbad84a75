//! Project files sandboxed to one root directory: read, atomic write with automatic
//! backups, list, search, backup and restore. Plain synchronous `std::fs` code: the
//! gateway calls it from `spawn_blocking` and wraps each function as an MCP tool.
//!
//! # Guarantees
//!
//! - **No path leaves the root.** A path is relative to the root, or absolute and inside
//!   it. `..` is resolved lexically and may not climb above the root. Every existing
//!   component is checked with `lstat`; a symlink is resolved (`canonicalize`) and refused
//!   when its real target leaves the root — wherever it sits: the file itself, an
//!   intermediate directory, or the parent directory of a file about to be created. A
//!   dangling symlink is refused too (its target cannot be checked for the write that
//!   would create it). Operations run on the resolved real path, never on a path with `..`
//!   or a symlink still in it, and the `path` reported back is the real path relative to
//!   the root.
//! - **Only regular files are read or written.** FIFOs, sockets and device files are
//!   refused before they are opened, and files are opened with `O_NONBLOCK` (no effect on
//!   regular files) so a file swapped for a FIFO in between cannot block the thread; the
//!   type is checked again on the open handle.
//! - **Listing and searching never follow a symlink.** A symlink inside the root is listed
//!   as a symlink (with its target); one leading outside, or dangling, is reported in
//!   `skipped` and nothing behind it is read. `.git` and the backup directory are never
//!   listed or searched.
//! - **Sizes are limited** ([`Limits`]): a read returns at most `max_read_bytes` (a read
//!   without `length` is truncated there, with `truncated: true`; an explicit larger
//!   `length` is refused), a write accepts at most `max_write_bytes`, a listing at most
//!   `max_entries` entries and `max_depth` levels, a search at most `max_matches` matches
//!   and skips files over `max_search_file_bytes`.
//! - **Writes are atomic.** The content goes to a temporary file in the same directory,
//!   is `fsync`ed and renamed over the target (then the directory is `fsync`ed); readers
//!   see the old or the new file, never a mix, and a failed write leaves no temporary file.
//!   An existing file keeps its permissions. `expected_sha256` makes the write conditional
//!   on the file not having changed since it was read (optimistic concurrency).
//! - **Nothing is overwritten without a backup** (unless the caller turns it off): the
//!   previous version is copied to `<backup_dir>/<relative path>/<timestamp>-<hash>` first;
//!   at most `max_backups_per_file` are kept per file, oldest pruned. A restore backs the
//!   current version up before replacing it. The backup directory (default
//!   `<root>/.baton/backups`) cannot be written through [`Sandbox::write`].
//! - **No panics on input**, and every error ([`FileError`]) names the path and the fix.
//!
//! Not defended against: another process racing the checks (replacing a checked directory
//! with a symlink between the check and the use), and hard links to outside files placed
//! in the root by someone else (they read like any file; a write replaces the link by
//! rename and leaves the outside file alone). Baton's own tools create neither.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod backup;
mod error;
mod io;
mod resolve;
mod search;
mod walk;

#[cfg(all(test, unix))]
mod tests;

pub use backup::{BackupInfo, RestoreResult};
pub use error::FileError;
pub use io::{FileContent, ReadOptions, WriteOptions, WriteResult};
pub use search::{MAX_CONTEXT_LINES, MAX_LINE_CHARS, SearchMatch, SearchOptions, SearchResult};
pub use walk::{Entry, EntryKind, ListOptions, ListResult, Skipped};

/// Size and count limits of a [`Sandbox`]. Per-call options can lower them, never raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Most bytes one read returns (default 1 MiB).
    pub max_read_bytes: u64,
    /// Largest content one write accepts (default 5 MiB).
    pub max_write_bytes: u64,
    /// Most entries one listing returns (default 2000).
    pub max_entries: usize,
    /// Deepest level a listing or search descends to (default 20).
    pub max_depth: usize,
    /// Most matches one search returns (default 500).
    pub max_matches: usize,
    /// Files larger than this are skipped by searches (default 10 MiB).
    pub max_search_file_bytes: u64,
    /// Backups kept per file, oldest pruned (default 20, at least 1).
    pub max_backups_per_file: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_read_bytes: 1024 * 1024,
            max_write_bytes: 5 * 1024 * 1024,
            max_entries: 2000,
            max_depth: 20,
            max_matches: 500,
            max_search_file_bytes: 10 * 1024 * 1024,
            max_backups_per_file: 20,
        }
    }
}

/// How file content travels as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Text; reading a file that is not valid UTF-8 is an error naming `base64` as the fix.
    #[default]
    Utf8,
    /// Any bytes, standard base64 with padding.
    Base64,
}

/// A project root and everything done inside it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Canonical root.
    root: PathBuf,
    limits: Limits,
    /// Absolute, lexically normalised; not necessarily existing yet.
    backup_dir: PathBuf,
}

impl Sandbox {
    /// A sandbox over the existing directory `root` (canonicalised here), with backups in
    /// `<root>/.baton/backups`.
    pub fn new(root: impl AsRef<Path>, limits: Limits) -> Result<Sandbox, FileError> {
        let given = root.as_ref();
        let root = std::fs::canonicalize(given).map_err(|e| FileError::BadRoot {
            root: given.display().to_string(),
            reason: e.to_string(),
        })?;
        if !root.is_dir() {
            return Err(FileError::BadRoot {
                root: given.display().to_string(),
                reason: "it is not a directory".into(),
            });
        }
        let backup_dir = root.join(".baton").join("backups");
        Ok(Sandbox {
            root,
            limits,
            backup_dir,
        })
    }

    /// Keeps backups in `dir` instead (relative to the root, or absolute; it may lie
    /// outside the root). Created on first use. Tests only: backups live in the root's
    /// `.baton/backups` in use.
    #[cfg(test)]
    pub(crate) fn with_backup_dir(mut self, dir: impl AsRef<Path>) -> Sandbox {
        let dir = self.root.join(dir.as_ref());
        self.backup_dir = resolve::lexical_absolute(&dir);
        self
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where backups go (absolute; may not exist yet).
    pub fn backup_dir(&self) -> &Path {
        &self.backup_dir
    }
}

/// RFC 3339 UTC with milliseconds.
fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn modified(meta: &std::fs::Metadata) -> Option<String> {
    meta.modified().ok().map(rfc3339)
}

/// Lower-case hex SHA-256 of a byte slice.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A path relative to the root as reported to callers: `/`-separated, `.` for the root.
fn display_rel(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        return ".".into();
    }
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}
