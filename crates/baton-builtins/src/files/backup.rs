//! Backups: `<backup_dir>/<relative path>/<timestamp>-<short sha256>`, newest last by
//! name, at most `max_backups_per_file` per file.

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::{
    FileError, Sandbox, display_rel,
    io::{commit, copy_hashing, existing_regular, open_regular, temp_in},
    modified,
    resolve::{Resolved, walk_components},
};

/// The timestamp part of a backup id (23 characters, sorts chronologically).
const ID_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.6fZ";
const ID_TIME_LEN: usize = 23;

/// One stored version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// Identifies the backup among the file's backups (`<timestamp>-<short sha256>`).
    pub id: String,
    /// The project file it is a version of (relative to the root).
    pub path: String,
    /// When the backup was taken, RFC 3339 UTC.
    pub created: String,
    pub size: u64,
    pub sha256: String,
}

/// What [`Sandbox::restore`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreResult {
    /// The restored file (relative to the root).
    pub path: String,
    /// The backup whose content the file now has.
    pub restored: BackupInfo,
    /// The backup of the version that was replaced (none when the file did not exist).
    pub safety_backup: Option<BackupInfo>,
    pub size: u64,
    pub sha256: String,
}

/// A backup copied into a temporary file in its folder, not yet named.
pub(crate) struct StagedBackup {
    temp: NamedTempFile,
    folder: PathBuf,
    rel: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl Sandbox {
    /// Backs up the current version of a file.
    pub fn backup(&self, path: &str) -> Result<BackupInfo, FileError> {
        let r = self.resolve(path)?;
        self.check_writable(&r, path)?;
        if existing_regular(&r)?.is_none() {
            return Err(FileError::NotFound {
                path: r.shown(),
                hint: "; only an existing file can be backed up".into(),
            });
        }
        let staged = self.stage_backup(&r)?;
        self.commit_backup(staged)
    }

    /// A file's backups, newest first (the file itself need not exist any more).
    pub fn backups(&self, path: &str) -> Result<Vec<BackupInfo>, FileError> {
        let r = self.resolve(path)?;
        self.check_writable(&r, path)?;
        Ok(self
            .backup_files(&r)?
            .into_iter()
            .map(|(info, _)| info)
            .collect())
    }

    /// Restores a backup (default the newest) atomically, backing up the current version
    /// first. Missing parent directories are created.
    pub fn restore(&self, path: &str, backup_id: Option<&str>) -> Result<RestoreResult, FileError> {
        let r = self.resolve(path)?;
        self.check_writable(&r, path)?;
        let shown = r.shown();
        let mut all = self.backup_files(&r)?;
        let index = match backup_id.map(str::trim) {
            None if all.is_empty() => None,
            None => Some(0),
            Some(id) => all.iter().position(|(info, _)| info.id == id),
        };
        let Some(index) = index else {
            return Err(FileError::NoSuchBackup {
                path: shown,
                id: backup_id.map(str::to_string),
                available: all.into_iter().map(|(info, _)| info.id).collect(),
            });
        };
        let (restored, source) = all.swap_remove(index);
        let existing = existing_regular(&r)?;
        let parent = self.ensure_parent(&r, path, true)?;

        // Stage the old content next to the target first: the safety backup below may
        // prune the very backup being restored.
        let mut temp = temp_in(
            &parent,
            existing.as_ref().map(std::fs::Metadata::permissions),
        )
        .map_err(|e| FileError::io("create a temporary file for", shown.clone(), e))?;
        let (mut src, _) = open_regular(&source, &restored.id)?;
        let (size, sha256) = copy_hashing(&mut src, &mut temp)
            .map_err(|e| FileError::io("copy the backup to", shown.clone(), e))?;

        let safety_backup = match existing {
            Some(_) => Some(self.commit_backup(self.stage_backup(&r)?)?),
            None => None,
        };
        commit(temp, &r.real).map_err(|e| FileError::io("write", shown.clone(), e))?;
        Ok(RestoreResult {
            path: shown,
            restored,
            safety_backup,
            size,
            sha256,
        })
    }

    /// Copies the current version of an existing file into a temporary file in its
    /// backup folder.
    pub(crate) fn stage_backup(&self, r: &Resolved) -> Result<StagedBackup, FileError> {
        let shown = r.shown();
        let folder = self.backup_folder(&r.rel, true)?.ok_or_else(|| {
            FileError::io(
                "create the backup folder of",
                shown.clone(),
                std::io::Error::other("the backup folder is missing"),
            )
        })?;
        let (mut src, _) = open_regular(&r.real, &shown)?;
        let mut temp = temp_in(&folder, None)
            .map_err(|e| FileError::io("create a backup of", shown.clone(), e))?;
        let (size, sha256) = copy_hashing(&mut src, &mut temp)
            .map_err(|e| FileError::io("back up", shown.clone(), e))?;
        Ok(StagedBackup {
            temp,
            folder,
            rel: r.rel.clone(),
            size,
            sha256,
        })
    }

    /// Names a staged backup and prunes the file's oldest backups beyond the limit.
    pub(crate) fn commit_backup(&self, staged: StagedBackup) -> Result<BackupInfo, FileError> {
        let shown = display_rel(&staged.rel);
        let now = Utc::now();
        let base_id = format!(
            "{}-{}",
            now.format(ID_TIME_FORMAT),
            staged.sha256.get(..12).unwrap_or(&staged.sha256)
        );
        let io_err = |e| FileError::io("back up", shown.clone(), e);
        staged.temp.as_file().sync_all().map_err(io_err)?;
        let mut temp = staged.temp;
        let mut id = base_id.clone();
        for n in 1.. {
            match temp.persist_noclobber(staged.folder.join(&id)) {
                Ok(_) => break,
                Err(e) if e.error.kind() == ErrorKind::AlreadyExists && n < 1000 => {
                    temp = e.file;
                    id = format!("{base_id}-{n}");
                }
                Err(e) => return Err(io_err(e.error)),
            }
        }
        self.prune(&staged.folder);
        Ok(BackupInfo {
            id,
            path: shown,
            created: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            size: staged.size,
            sha256: staged.sha256,
        })
    }

    /// Removes the oldest backups in a folder beyond `max_backups_per_file`. Best effort:
    /// a backup that cannot be removed stays.
    fn prune(&self, folder: &Path) {
        let mut ids = backup_ids(folder);
        let keep = self.limits.max_backups_per_file.max(1);
        if ids.len() > keep {
            ids.sort();
            let excess = ids.len() - keep;
            for id in &ids[..excess] {
                if let Err(e) = fs::remove_file(folder.join(id)) {
                    tracing::warn!(folder = %folder.display(), %id, error = %e, "cannot prune a backup");
                }
            }
        }
    }

    /// The backups of a file with their stored paths, newest first.
    fn backup_files(&self, r: &Resolved) -> Result<Vec<(BackupInfo, PathBuf)>, FileError> {
        let Some(folder) = self.backup_folder(&r.rel, false)? else {
            return Ok(Vec::new());
        };
        let shown = r.shown();
        let mut ids = backup_ids(&folder);
        ids.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let stored = folder.join(&id);
            let Ok((mut file, meta)) = open_regular(&stored, &id) else {
                continue;
            };
            let (size, sha256) = copy_hashing(&mut file, &mut std::io::sink())
                .map_err(|e| FileError::io("read a backup of", shown.clone(), e))?;
            let created = id
                .get(..ID_TIME_LEN)
                .and_then(|t| NaiveDateTime::parse_from_str(t, ID_TIME_FORMAT).ok())
                .map(|t| {
                    t.and_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                })
                .or_else(|| modified(&meta))
                .unwrap_or_default();
            out.push((
                BackupInfo {
                    id,
                    path: shown.clone(),
                    created,
                    size,
                    sha256,
                },
                stored,
            ));
        }
        Ok(out)
    }

    /// The folder holding a file's backups: created when `create`, else `None` when it
    /// does not exist. Resolved like any path, so it cannot leave the backup directory
    /// (nor the root, when the backup directory is inside it).
    fn backup_folder(&self, rel: &Path, create: bool) -> Result<Option<PathBuf>, FileError> {
        let dir_shown = || self.backup_dir.display().to_string();
        if create {
            fs::create_dir_all(&self.backup_dir)
                .map_err(|e| FileError::io("create the backup directory", dir_shown(), e))?;
        }
        let base = match fs::canonicalize(&self.backup_dir) {
            Ok(base) => base,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FileError::io("open the backup directory", dir_shown(), e)),
        };
        if self.backup_dir.starts_with(&self.root) && !base.starts_with(&self.root) {
            return Err(FileError::OutsideRoot {
                path: dir_shown(),
                detail: "the backup directory is a symlink out of the project root".into(),
            });
        }
        let shown = display_rel(rel);
        let (folder, exists) = walk_components(&base, rel, &shown)?;
        match (exists, create) {
            (true, _) => Ok(Some(folder)),
            (false, false) => Ok(None),
            (false, true) => {
                fs::create_dir_all(&folder)
                    .map_err(|e| FileError::io("create the backup folder of", shown.clone(), e))?;
                let (again, _) = walk_components(&base, rel, &shown)?;
                Ok(Some(again))
            }
        }
    }
}

/// The backup ids in a folder: regular files, not temporary (hidden) ones.
fn backup_ids(folder: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect()
}
