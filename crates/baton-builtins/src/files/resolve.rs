//! Path resolution: a caller's path becomes a real path inside the root, or an error.

use std::{
    fs,
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use super::{FileError, Sandbox, display_rel};

/// A caller's path resolved inside the root.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Absolute real path: existing components canonical, the missing tail appended.
    pub real: PathBuf,
    /// `real` relative to the root.
    pub rel: PathBuf,
    /// Whether `real` exists.
    pub exists: bool,
}

impl Resolved {
    /// The path as reported to callers (`/`-separated, relative to the root).
    pub fn shown(&self) -> String {
        display_rel(&self.rel)
    }
}

impl Sandbox {
    /// Resolves `path` (relative to the root, or absolute inside it) to its real location
    /// inside the root, refusing every way out.
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolved, FileError> {
        let rel = self.request_rel(path)?;
        let (real, exists) = walk_components(&self.root, &rel, path)?;
        let rel = real
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .map_err(|_| FileError::OutsideRoot {
                path: path.into(),
                detail: "it resolves to a location outside the project root".into(),
            })?;
        Ok(Resolved { real, rel, exists })
    }

    /// Whether a real path lies in the backup directory.
    pub(crate) fn in_backup_dir(&self, real: &Path) -> bool {
        real.starts_with(&self.backup_dir)
            || fs::canonicalize(&self.backup_dir).is_ok_and(|dir| real.starts_with(dir))
    }

    /// The caller's path as normal components relative to the root (lexically: `..`
    /// removed, absolute paths stripped of the root).
    fn request_rel(&self, path: &str) -> Result<PathBuf, FileError> {
        if path.contains('\0') {
            return Err(FileError::InvalidPath {
                path: path.escape_default().to_string(),
                reason: "it contains a NUL byte; remove it".into(),
            });
        }
        let requested = Path::new(path);
        if requested.is_absolute() {
            let abs = lexical_absolute(requested);
            if let Ok(rel) = abs.strip_prefix(&self.root) {
                return Ok(rel.to_path_buf());
            }
            // The root may be reached through a symlink (say /tmp -> /private/tmp): what
            // counts is where the existing part of the path really is.
            let (prefix, rest) = longest_existing_prefix(&abs);
            if let Ok(real) = fs::canonicalize(prefix)
                && let Ok(rel) = real.strip_prefix(&self.root)
            {
                return Ok(rel.join(rest));
            }
            return Err(FileError::OutsideRoot {
                path: path.into(),
                detail: format!(
                    "the absolute path is not under the project root {}",
                    self.root.display()
                ),
            });
        }
        let mut out = PathBuf::new();
        for component in requested.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(FileError::OutsideRoot {
                            path: path.into(),
                            detail: "`..` climbs above the project root".into(),
                        });
                    }
                }
                Component::Normal(name) => out.push(name),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(FileError::OutsideRoot {
                        path: path.into(),
                        detail: "it is not a path relative to the project root".into(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Walks `rel` (normal components only) down from `base` (canonical), checking every
/// existing component with `lstat`: a symlink must resolve inside `base`, a component
/// with more path after it must be a directory. Returns the real path and whether it
/// exists. `shown` is the caller's path, for messages.
pub(crate) fn walk_components(
    base: &Path,
    rel: &Path,
    shown: &str,
) -> Result<(PathBuf, bool), FileError> {
    let names: Vec<_> = rel.iter().collect();
    let mut cur = base.to_path_buf();
    for (i, name) in names.iter().enumerate() {
        let next = cur.join(name);
        let here = || display_rel(next.strip_prefix(base).unwrap_or(&next));
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(&next) {
                Ok(real) if real.starts_with(base) => cur = real,
                Ok(_) => {
                    return Err(FileError::OutsideRoot {
                        path: shown.into(),
                        detail: format!(
                            "\"{}\" is a symlink to a location outside the project root",
                            here()
                        ),
                    });
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let target =
                        fs::read_link(&next).map_err(|e| FileError::io("read", here(), e))?;
                    if !lexical_absolute(&cur.join(&target)).starts_with(base) {
                        return Err(FileError::OutsideRoot {
                            path: shown.into(),
                            detail: format!(
                                "\"{}\" is a symlink to a location outside the project root",
                                here()
                            ),
                        });
                    }
                    return Err(FileError::BrokenSymlink {
                        path: here(),
                        target: target.display().to_string(),
                    });
                }
                Err(e) => return Err(FileError::io("resolve", here(), e)),
            },
            Ok(meta) => {
                if !meta.is_dir() && i + 1 < names.len() {
                    return Err(FileError::NotADirectory {
                        path: here(),
                        hint: format!(" (the path \"{shown}\" goes through it)"),
                    });
                }
                cur = next;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                cur = next;
                for rest in &names[i + 1..] {
                    cur.push(rest);
                }
                return Ok((cur, false));
            }
            Err(e) => return Err(FileError::io("inspect", here(), e)),
        }
    }
    Ok((cur, true))
}

/// `path` made absolute (it must be) with `.` and `..` removed lexically.
pub(crate) fn lexical_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(p) => out.push(p.as_os_str()),
            Component::RootDir => out.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// The longest ancestor of `abs` that exists (as a directory entry, symlinks not
/// followed), and the rest.
fn longest_existing_prefix(abs: &Path) -> (&Path, PathBuf) {
    for ancestor in abs.ancestors() {
        if fs::symlink_metadata(ancestor).is_ok() {
            let rest = abs.strip_prefix(ancestor).unwrap_or(Path::new(""));
            return (ancestor, rest.to_path_buf());
        }
    }
    (abs, PathBuf::new())
}
