//! Reading and atomic writing of one file, and the helpers backups share.

use std::{
    fs::{self, File, Metadata, OpenOptions, Permissions},
    io::{self, ErrorKind, Read, Seek, SeekFrom, Write},
    path::Path,
};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::{
    BackupInfo, Encoding, FileError, Sandbox, display_rel, hex, modified, resolve::Resolved,
    sha256_hex,
};

/// Options of [`Sandbox::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadOptions {
    pub encoding: Encoding,
    /// First byte to return (default 0).
    pub offset: u64,
    /// Bytes to return (default: up to the end, truncated at `max_read_bytes`). More than
    /// `max_read_bytes` is refused.
    pub length: Option<u64>,
}

/// A file's content (or a range of it) and metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    /// Real path relative to the root.
    pub path: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// Last modification, RFC 3339 UTC.
    pub modified: Option<String>,
    pub encoding: Encoding,
    pub content: String,
    /// First byte returned.
    pub offset: u64,
    /// Bytes returned. With UTF-8, a range that ends inside a character ends before it.
    pub length: u64,
    /// Whether the file goes on after the returned range.
    pub truncated: bool,
    /// SHA-256 of the whole file (for `expected_sha256`); absent when the file is larger
    /// than `max_write_bytes` (it could not be written back anyway).
    pub sha256: Option<String>,
}

/// Options of [`Sandbox::write`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriteOptions {
    /// How `content` is encoded.
    pub encoding: Encoding,
    /// Create missing parent directories (default false).
    pub create_dirs: bool,
    /// Write only if the file's current SHA-256 is this (refused when it differs or the
    /// file does not exist).
    pub expected_sha256: Option<String>,
    /// Back the previous version up first (default true).
    pub backup: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            encoding: Encoding::Utf8,
            create_dirs: false,
            expected_sha256: None,
            backup: true,
        }
    }
}

/// What [`Sandbox::write`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResult {
    /// Real path relative to the root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// The backup of the previous version, when there was one and backups were on.
    pub backup: Option<BackupInfo>,
    /// Whether the file did not exist before.
    pub created: bool,
}

impl Sandbox {
    /// Reads a regular file, or a byte range of it.
    pub fn read(&self, path: &str, opts: &ReadOptions) -> Result<FileContent, FileError> {
        let r = self.resolve(path)?;
        let shown = r.shown();
        if !r.exists {
            return Err(not_found(shown));
        }
        let (mut file, meta) = open_regular(&r.real, &shown)?;
        let max = self.limits.max_read_bytes;
        let io_err = |e| FileError::io("read", shown.clone(), e);

        let (mut size, offset) = (meta.len(), opts.offset);
        if offset > size {
            return Err(FileError::InvalidRange {
                path: shown,
                offset,
                size,
            });
        }
        let want = match opts.length {
            Some(length) if length > max => {
                return Err(FileError::TooLarge {
                    path: shown,
                    detail: format!(
                        "a range of {length} bytes exceeds the read limit of {max} bytes; read at most {max} bytes at a time, using offset to page through"
                    ),
                });
            }
            Some(length) => length.min(size - offset),
            None => (size - offset).min(max),
        };

        let (bytes, sha256) = if size <= self.limits.max_write_bytes {
            // Small enough to hash whole: one read gives the hash and the range.
            let mut all = Vec::new();
            (&mut file)
                .take(self.limits.max_write_bytes.saturating_add(1))
                .read_to_end(&mut all)
                .map_err(io_err)?;
            let sha = (all.len() as u64 <= self.limits.max_write_bytes).then(|| sha256_hex(&all));
            size = all.len() as u64;
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
            let end = start
                .saturating_add(usize::try_from(want).unwrap_or(usize::MAX))
                .min(all.len());
            all.truncate(end);
            all.drain(..start);
            (all, sha)
        } else {
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            let mut buf = Vec::new();
            (&mut file)
                .take(want)
                .read_to_end(&mut buf)
                .map_err(io_err)?;
            (buf, None)
        };

        let raw_len = bytes.len() as u64;
        let ends_early = offset + raw_len < size;
        let content = match opts.encoding {
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&bytes),
            Encoding::Utf8 => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let error = e.utf8_error();
                    let valid = error.valid_up_to();
                    // A range cut inside a character ends before it; anything else is
                    // not text.
                    if error.error_len().is_some() || !ends_early || valid == 0 {
                        return Err(FileError::InvalidUtf8 {
                            path: shown,
                            offset: offset + valid as u64,
                        });
                    }
                    let mut bytes = e.into_bytes();
                    bytes.truncate(valid);
                    String::from_utf8(bytes).map_err(|_| FileError::InvalidUtf8 {
                        path: shown.clone(),
                        offset: offset + valid as u64,
                    })?
                }
            },
        };
        let length = match opts.encoding {
            Encoding::Utf8 => content.len() as u64,
            Encoding::Base64 => raw_len,
        };
        Ok(FileContent {
            path: shown,
            size,
            modified: modified(&meta),
            encoding: opts.encoding,
            content,
            offset,
            length,
            truncated: offset + length < size,
            sha256,
        })
    }

    /// Writes a regular file atomically (temporary file in the same directory, fsync,
    /// rename), backing up the previous version first unless `backup` is off.
    pub fn write(
        &self,
        path: &str,
        content: &str,
        opts: &WriteOptions,
    ) -> Result<WriteResult, FileError> {
        let bytes = decode(path, content, opts.encoding, self.limits.max_write_bytes)?;
        let r = self.resolve(path)?;
        self.check_writable(&r, path)?;
        let shown = r.shown();
        let existing = existing_regular(&r)?;
        let parent = self.ensure_parent(&r, path, opts.create_dirs)?;

        let (staged, current_sha) = match (&existing, opts.backup) {
            (Some(_), true) => {
                let staged = self.stage_backup(&r)?;
                let sha = staged.sha256.clone();
                (Some(staged), Some(sha))
            }
            (Some(_), false) if opts.expected_sha256.is_some() => {
                let (mut file, _) = open_regular(&r.real, &shown)?;
                let (_, sha) = copy_hashing(&mut file, &mut io::sink())
                    .map_err(|e| FileError::io("read", shown.clone(), e))?;
                (None, Some(sha))
            }
            _ => (None, None),
        };
        if let Some(expected) = &opts.expected_sha256 {
            let expected = expected.trim();
            match &current_sha {
                Some(actual) if actual.eq_ignore_ascii_case(expected) => {}
                actual => {
                    return Err(FileError::Conflict {
                        path: shown,
                        expected: expected.to_string(),
                        actual: actual
                            .clone()
                            .unwrap_or_else(|| "nothing: the file does not exist".into()),
                    });
                }
            }
        }
        let backup = staged.map(|s| self.commit_backup(s)).transpose()?;

        let mut temp = temp_in(&parent, existing.as_ref().map(Metadata::permissions))
            .map_err(|e| FileError::io("create a temporary file for", shown.clone(), e))?;
        temp.write_all(&bytes)
            .map_err(|e| FileError::io("write", shown.clone(), e))?;
        commit(temp, &r.real).map_err(|e| FileError::io("write", shown.clone(), e))?;
        Ok(WriteResult {
            path: shown,
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            backup,
            created: existing.is_none(),
        })
    }

    /// Refuses the root itself and anything in the backup directory as a write target.
    pub(crate) fn check_writable(&self, r: &Resolved, path: &str) -> Result<(), FileError> {
        if r.rel.as_os_str().is_empty() {
            return Err(FileError::NotAFile { path: path.into() });
        }
        if self.in_backup_dir(&r.real) {
            return Err(FileError::InBackupDir { path: r.shown() });
        }
        Ok(())
    }

    /// The parent directory of a write target, created when asked (and checked again
    /// after creation).
    pub(crate) fn ensure_parent(
        &self,
        r: &Resolved,
        path: &str,
        create: bool,
    ) -> Result<std::path::PathBuf, FileError> {
        let parent = r.real.parent().unwrap_or(&self.root).to_path_buf();
        let parent_shown = display_rel(parent.strip_prefix(&self.root).unwrap_or(&parent));
        match fs::metadata(&parent) {
            Ok(meta) if meta.is_dir() => Ok(parent),
            Ok(_) => Err(FileError::NotADirectory {
                path: parent_shown,
                hint: String::new(),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound && create => {
                fs::create_dir_all(&parent)
                    .map_err(|e| FileError::io("create directory", parent_shown, e))?;
                let again = self.resolve(path)?;
                if again.real != r.real {
                    return Err(FileError::OutsideRoot {
                        path: path.into(),
                        detail: "its directories changed while they were being created".into(),
                    });
                }
                Ok(parent)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Err(FileError::NotFound {
                path: parent_shown,
                hint: "; set create_dirs to create missing directories".into(),
            }),
            Err(e) => Err(FileError::io("inspect", parent_shown, e)),
        }
    }
}

fn not_found(shown: String) -> FileError {
    FileError::NotFound {
        path: shown,
        hint: "; list_project_structure shows what exists".into(),
    }
}

/// The metadata of an existing write target, which must be a regular file.
pub(crate) fn existing_regular(r: &Resolved) -> Result<Option<Metadata>, FileError> {
    if !r.exists {
        return Ok(None);
    }
    let meta = fs::metadata(&r.real).map_err(|e| FileError::io("inspect", r.shown(), e))?;
    check_regular(&meta, &r.shown())?;
    Ok(Some(meta))
}

/// Content as bytes, refused beyond `max` bytes (checked before decoding).
fn decode(path: &str, content: &str, encoding: Encoding, max: u64) -> Result<Vec<u8>, FileError> {
    let too_large = |size: u64| FileError::TooLarge {
        path: path.into(),
        detail: format!(
            "the content is {size} bytes, more than the write limit of {max} bytes; write a smaller file"
        ),
    };
    match encoding {
        Encoding::Utf8 => {
            if content.len() as u64 > max {
                return Err(too_large(content.len() as u64));
            }
            Ok(content.as_bytes().to_vec())
        }
        Encoding::Base64 => {
            let estimate = (content.len() as u64 / 4) * 3;
            if estimate > max.saturating_add(3) {
                return Err(too_large(estimate));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content.trim())
                .map_err(|e| FileError::InvalidContent {
                    encoding: "base64",
                    reason: format!("{e}; use standard base64 with padding"),
                })?;
            if bytes.len() as u64 > max {
                return Err(too_large(bytes.len() as u64));
            }
            Ok(bytes)
        }
    }
}

/// The kind of a file that is neither regular, directory nor symlink.
pub(crate) fn special_kind(ft: &fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some("FIFO (named pipe)");
        }
        if ft.is_socket() {
            return Some("socket");
        }
        if ft.is_block_device() {
            return Some("block device");
        }
        if ft.is_char_device() {
            return Some("character device");
        }
    }
    (!(ft.is_file() || ft.is_dir() || ft.is_symlink())).then_some("special file")
}

fn check_regular(meta: &Metadata, shown: &str) -> Result<(), FileError> {
    if meta.is_dir() {
        return Err(FileError::NotAFile { path: shown.into() });
    }
    if let Some(kind) = special_kind(&meta.file_type()) {
        return Err(FileError::SpecialFile {
            path: shown.into(),
            kind,
        });
    }
    Ok(())
}

/// Opens an existing real path for reading; only regular files, checked before opening
/// and again on the handle. `O_NONBLOCK` keeps a FIFO swapped in meanwhile from blocking.
pub(crate) fn open_regular(real: &Path, shown: &str) -> Result<(File, Metadata), FileError> {
    let meta = fs::metadata(real).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_found(shown.into()),
        _ => FileError::io("inspect", shown, e),
    })?;
    check_regular(&meta, shown)?;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(real)
        .map_err(|e| FileError::io("open", shown, e))?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::io("inspect", shown, e))?;
    check_regular(&meta, shown)?;
    Ok((file, meta))
}

/// Copies everything from `src` to `dst`; returns the byte count and SHA-256.
pub(crate) fn copy_hashing(src: &mut impl Read, dst: &mut impl Write) -> io::Result<(u64, String)> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

/// A temporary file in `dir` (hidden name), with `perms` (set exactly) or the default
/// permissions of a new file (0666 less the umask).
pub(crate) fn temp_in(dir: &Path, perms: Option<Permissions>) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".baton-tmp-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(dir)?;
    if let Some(perms) = perms {
        temp.as_file().set_permissions(perms)?;
    }
    Ok(temp)
}

/// fsyncs the temporary file, renames it over `target`, fsyncs the directory. On error
/// the temporary file is removed.
pub(crate) fn commit(temp: NamedTempFile, target: &Path) -> io::Result<()> {
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|e| e.error)?;
    if let Some(dir) = target.parent()
        && let Ok(dir) = File::open(dir)
    {
        // Some file systems refuse to fsync a directory; the rename is done either way.
        let _ = dir.sync_all();
    }
    Ok(())
}
