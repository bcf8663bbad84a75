//! Walking a directory of the project (the `ignore` crate: .gitignore and .ignore honoured,
//! symlinks never followed), shared by listing and searching; and the listing itself.

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    sync::Arc,
};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::{
    DirEntry, WalkBuilder,
    gitignore::{Gitignore, GitignoreBuilder},
};
use serde::{Deserialize, Serialize};

use super::{FileError, Sandbox, display_rel, io::special_kind, modified, resolve::Resolved};

/// At most this many skipped paths are reported per call.
pub(crate) const MAX_SKIPPED: usize = 100;

/// Options of [`Sandbox::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListOptions {
    /// Only files (and directories) matching one of these globs. A glob without `/`
    /// matches the name at any depth (`*.rs`); one with `/` matches the path relative to
    /// the root or to the listed directory (`src/**/*.rs`, `*` not crossing `/`).
    pub globs: Vec<String>,
    /// Nothing matching these globs, and nothing below a directory matching them.
    pub exclude: Vec<String>,
    /// Levels below the listed directory (1: its direct children); capped by the limits.
    pub max_depth: Option<usize>,
    /// Most entries returned; capped by the limits.
    pub max_entries: Option<usize>,
    /// Include dot files and directories (`.git` and the backup directory never are).
    pub include_hidden: bool,
    /// Honour `.gitignore` and `.ignore` files (default true).
    pub respect_gitignore: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            globs: Vec::new(),
            exclude: Vec::new(),
            max_depth: None,
            max_entries: None,
            include_hidden: false,
            respect_gitignore: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One listed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the root.
    pub path: String,
    pub kind: EntryKind,
    /// Files only.
    pub size: Option<u64>,
    /// RFC 3339 UTC.
    pub modified: Option<String>,
    /// Symlinks only: the real target, relative to the root (always inside it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
}

/// A path left out of a listing or search, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What [`Sandbox::list`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResult {
    /// The listed directory, relative to the root.
    pub path: String,
    /// Sorted by path.
    pub entries: Vec<Entry>,
    /// Whether entries were left out because of `max_entries`.
    pub truncated: bool,
    /// Symlinks leading out of the root, special files, unreadable directories (at most
    /// 100).
    pub skipped: Vec<Skipped>,
}

/// Glob filter: name globs (no `/`) and path globs.
pub(crate) struct Globs {
    names: GlobSet,
    paths: GlobSet,
    empty: bool,
}

impl Globs {
    pub fn new(globs: &[String]) -> Result<Globs, FileError> {
        let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for glob in globs {
            let trimmed = glob.trim().trim_end_matches('/');
            let trimmed = trimmed.trim_start_matches("./").trim_start_matches('/');
            let bad = |e: globset::Error| FileError::BadGlob {
                glob: glob.clone(),
                reason: e.kind().to_string(),
            };
            if trimmed.is_empty() {
                return Err(FileError::BadGlob {
                    glob: glob.clone(),
                    reason: "it is empty".into(),
                });
            }
            let built = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .build()
                .map_err(bad)?;
            if trimmed.contains('/') {
                paths.add(built);
            } else {
                names.add(built);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| FileError::BadGlob {
                glob: globs.join(", "),
                reason: e.to_string(),
            })
        };
        Ok(Globs {
            names: build(names)?,
            paths: build(paths)?,
            empty: globs.is_empty(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Whether a path (relative to the root, and to the walked directory) matches.
    pub fn is_match(&self, rel_root: &Path, rel_walked: &Path) -> bool {
        rel_root
            .file_name()
            .is_some_and(|name| self.names.is_match(name))
            || self.paths.is_match(rel_root)
            || self.paths.is_match(rel_walked)
    }
}

/// What to walk and how.
pub(crate) struct WalkSpec<'a> {
    pub globs: &'a [String],
    pub exclude: &'a [String],
    /// Levels below the walked directory.
    pub max_depth: usize,
    pub include_hidden: bool,
    pub respect_gitignore: bool,
}

/// One path met by a walk.
pub(crate) enum Item<'a> {
    /// `included`: matches the include globs (or there are none).
    Dir {
        entry: &'a DirEntry,
        rel: &'a Path,
        included: bool,
    },
    /// A regular file matching the include globs.
    File {
        entry: &'a DirEntry,
        rel: &'a Path,
    },
    /// A symlink matching the include globs whose target is inside the root.
    Symlink {
        entry: &'a DirEntry,
        rel: &'a Path,
        target: PathBuf,
    },
    Skipped(Skipped),
}

/// Decides which entries the walker enters or yields, before any are read.
struct Filter {
    root: PathBuf,
    walked: PathBuf,
    backup: Vec<PathBuf>,
    exclude: Globs,
    /// Ignore files of the directories between the root and the walked directory,
    /// deepest first (the walker reads only those at and below the walked directory).
    ancestors: Vec<Gitignore>,
}

impl Filter {
    fn keep(&self, entry: &DirEntry) -> bool {
        let path = entry.path();
        if entry.file_name() == ".git" || self.backup.iter().any(|b| path.starts_with(b)) {
            return false;
        }
        let rel_root = path.strip_prefix(&self.root).unwrap_or(path);
        let rel_walked = path.strip_prefix(&self.walked).unwrap_or(path);
        if !self.exclude.is_empty() && self.exclude.is_match(rel_root, rel_walked) {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        for ignores in &self.ancestors {
            match ignores.matched(path, is_dir) {
                ignore::Match::Ignore(_) => return false,
                ignore::Match::Whitelist(_) => break,
                ignore::Match::None => {}
            }
        }
        true
    }
}

impl Sandbox {
    /// Lists a directory recursively.
    pub fn list(&self, path: &str, opts: &ListOptions) -> Result<ListResult, FileError> {
        let r = self.resolve_dir(path)?;
        let max_entries = opts
            .max_entries
            .unwrap_or(self.limits.max_entries)
            .min(self.limits.max_entries);
        let spec = WalkSpec {
            globs: &opts.globs,
            exclude: &opts.exclude,
            max_depth: opts.max_depth.unwrap_or(self.limits.max_depth),
            include_hidden: opts.include_hidden,
            respect_gitignore: opts.respect_gitignore,
        };
        let (mut entries, mut skipped, mut truncated) = (Vec::new(), Vec::new(), false);
        self.walk(&r, &spec, |item| {
            let entry = match item {
                Item::Skipped(s) => {
                    if skipped.len() < MAX_SKIPPED {
                        skipped.push(s);
                    }
                    return true;
                }
                Item::Dir {
                    included: false, ..
                } => return true,
                Item::Dir { entry, rel, .. } => Entry {
                    path: display_rel(rel),
                    kind: EntryKind::Dir,
                    size: None,
                    modified: entry.metadata().ok().as_ref().and_then(modified),
                    target: None,
                },
                Item::File { entry, rel } => {
                    let meta = entry.metadata().ok();
                    Entry {
                        path: display_rel(rel),
                        kind: EntryKind::File,
                        size: meta.as_ref().map(fs::Metadata::len),
                        modified: meta.as_ref().and_then(modified),
                        target: None,
                    }
                }
                Item::Symlink { entry, rel, target } => Entry {
                    path: display_rel(rel),
                    kind: EntryKind::Symlink,
                    size: None,
                    modified: entry.metadata().ok().as_ref().and_then(modified),
                    target: Some(display_rel(&target)),
                },
            };
            if entries.len() >= max_entries {
                truncated = true;
                return false;
            }
            entries.push(entry);
            true
        })?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(ListResult {
            path: r.shown(),
            entries,
            truncated,
            skipped,
        })
    }

    /// Resolves an existing directory to walk (not the backup directory).
    pub(crate) fn resolve_dir(&self, path: &str) -> Result<Resolved, FileError> {
        let r = self.resolve(path)?;
        if !r.exists {
            return Err(FileError::NotFound {
                path: r.shown(),
                hint: "; list \".\" to see what exists".into(),
            });
        }
        if self.in_backup_dir(&r.real) {
            return Err(FileError::InBackupDir { path: r.shown() });
        }
        match fs::metadata(&r.real) {
            Ok(meta) if meta.is_dir() => Ok(r),
            Ok(_) => Err(FileError::NotADirectory {
                path: r.shown(),
                hint: "; read it with read_project_file".into(),
            }),
            Err(e) => Err(FileError::io("inspect", r.shown(), e)),
        }
    }

    /// Walks the directory `r` in name order, calling `visit` for every path met (not
    /// for `r` itself) until it returns false.
    pub(crate) fn walk(
        &self,
        r: &Resolved,
        spec: &WalkSpec<'_>,
        mut visit: impl FnMut(Item<'_>) -> bool,
    ) -> Result<(), FileError> {
        let include = Globs::new(spec.globs)?;
        let mut backup = vec![self.backup_dir.clone()];
        backup.extend(fs::canonicalize(&self.backup_dir).ok());
        let filter = Arc::new(Filter {
            root: self.root.clone(),
            walked: r.real.clone(),
            backup,
            exclude: Globs::new(spec.exclude)?,
            ancestors: if spec.respect_gitignore {
                ancestor_ignores(&self.root, &r.rel)
            } else {
                Vec::new()
            },
        });
        let mut builder = WalkBuilder::new(&r.real);
        builder
            .standard_filters(false)
            .hidden(!spec.include_hidden)
            .parents(false)
            .ignore(spec.respect_gitignore)
            .git_ignore(spec.respect_gitignore)
            .git_exclude(spec.respect_gitignore)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .max_depth(Some(spec.max_depth.min(self.limits.max_depth)))
            .sort_by_file_name(|a, b| a.cmp(b));
        let keep = Arc::clone(&filter);
        builder.filter_entry(move |entry| keep.keep(entry));

        for result in builder.build() {
            let entry = match result {
                Ok(entry) => entry,
                Err(e) => {
                    let path = error_path(&e)
                        .map(|p| display_rel(p.strip_prefix(&self.root).unwrap_or(&p)))
                        .unwrap_or_default();
                    let reason = format!("cannot be read: {}", error_message(&e));
                    if !visit(Item::Skipped(Skipped { path, reason })) {
                        return Ok(());
                    }
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let Some(file_type) = entry.file_type() else {
                continue;
            };
            let rel = entry
                .path()
                .strip_prefix(&self.root)
                .unwrap_or(entry.path());
            let rel_walked = entry.path().strip_prefix(&r.real).unwrap_or(entry.path());
            let included = include.is_empty() || include.is_match(rel, rel_walked);
            let item = if file_type.is_dir() {
                Item::Dir {
                    entry: &entry,
                    rel,
                    included,
                }
            } else if !included {
                continue;
            } else if file_type.is_symlink() {
                match self.symlink_target(entry.path()) {
                    Ok(target) => Item::Symlink {
                        entry: &entry,
                        rel,
                        target,
                    },
                    Err(reason) => Item::Skipped(Skipped {
                        path: display_rel(rel),
                        reason,
                    }),
                }
            } else if file_type.is_file() {
                Item::File { entry: &entry, rel }
            } else {
                let kind = special_kind(&file_type).unwrap_or("special file");
                Item::Skipped(Skipped {
                    path: display_rel(rel),
                    reason: format!("{kind}, not a regular file"),
                })
            };
            if !visit(item) {
                break;
            }
        }
        Ok(())
    }

    /// A symlink's real target relative to the root, or why it is not followed.
    fn symlink_target(&self, link: &Path) -> Result<PathBuf, String> {
        match fs::canonicalize(link) {
            Ok(real) if self.in_backup_dir(&real) => {
                Err("symlink into the backup directory (not followed)".into())
            }
            Ok(real) => match real.strip_prefix(&self.root) {
                Ok(rel) => Ok(rel.to_path_buf()),
                Err(_) => {
                    Err("symlink to a location outside the project root (not followed)".into())
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err("dangling symlink (its target does not exist)".into())
            }
            Err(e) => Err(format!("symlink that cannot be resolved: {e}")),
        }
    }
}

/// The ignore files (`.gitignore`, then `.ignore`, which wins) of the directories from
/// the root down to the parent of `rel`, deepest first.
fn ancestor_ignores(root: &Path, rel: &Path) -> Vec<Gitignore> {
    let mut out = Vec::new();
    let mut dir = root.to_path_buf();
    for name in rel.iter() {
        let mut builder = GitignoreBuilder::new(&dir);
        let mut any = false;
        for file in [".gitignore", ".ignore"] {
            let path = dir.join(file);
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                // A partly invalid file still contributes its valid lines.
                let _ = builder.add(&path);
                any = true;
            }
        }
        if any && let Ok(ignores) = builder.build() {
            out.push(ignores);
        }
        dir.push(name);
    }
    out.reverse();
    out
}

fn error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

fn error_message(e: &ignore::Error) -> String {
    match e {
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => error_message(err),
        other => other.to_string(),
    }
}
