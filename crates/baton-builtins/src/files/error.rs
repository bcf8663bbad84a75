//! The one error type of the file tools. Each message names the path and what to do.

/// What went wrong with a file operation. Paths are relative to the project root as the
/// caller wrote them (or as resolved, where noted).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "the project root \"{root}\" cannot be used: {reason}; configure an existing directory"
    )]
    BadRoot { root: String, reason: String },

    #[error("invalid path \"{path}\": {reason}")]
    InvalidPath { path: String, reason: String },

    #[error(
        "\"{path}\" is outside the project root: {detail}; use a path relative to the project root that stays inside it"
    )]
    OutsideRoot { path: String, detail: String },

    #[error(
        "\"{path}\" is a symlink whose target \"{target}\" does not exist; only symlinks to existing files inside the project root can be used — use the target's path instead"
    )]
    BrokenSymlink { path: String, target: String },

    #[error(
        "\"{path}\" is a {kind}, not a regular file; only regular files can be read, written or searched"
    )]
    SpecialFile { path: String, kind: &'static str },

    #[error("\"{path}\" is too large: {detail}")]
    TooLarge { path: String, detail: String },

    #[error("\"{path}\" does not exist{hint}")]
    NotFound { path: String, hint: String },

    #[error(
        "\"{path}\" is a directory, not a file; use list_project_structure to see its contents"
    )]
    NotAFile { path: String },

    #[error("\"{path}\" is not a directory{hint}")]
    NotADirectory { path: String, hint: String },

    #[error(
        "\"{path}\" is not valid UTF-8 text at byte {offset}; read it with encoding \"base64\" (or start the range on a character boundary)"
    )]
    InvalidUtf8 { path: String, offset: u64 },

    #[error("the content is not valid {encoding}: {reason}")]
    InvalidContent {
        encoding: &'static str,
        reason: String,
    },

    #[error(
        "offset {offset} is past the end of \"{path}\" ({size} bytes); use an offset of at most {size}"
    )]
    InvalidRange {
        path: String,
        offset: u64,
        size: u64,
    },

    #[error("invalid regular expression \"{pattern}\": {reason}")]
    BadRegex { pattern: String, reason: String },

    #[error("invalid glob \"{glob}\": {reason}")]
    BadGlob { glob: String, reason: String },

    #[error(
        "\"{path}\" changed since it was read: expected sha256 {expected}, it is now {actual}; read the file again and re-apply the change"
    )]
    Conflict {
        path: String,
        expected: String,
        actual: String,
    },

    #[error(
        "\"{path}\" is inside the backup directory, which only backup_file and restore_file manage; write the project file instead"
    )]
    InBackupDir { path: String },

    #[error("{}", no_such_backup(path, id.as_deref(), available))]
    NoSuchBackup {
        path: String,
        id: Option<String>,
        available: Vec<String>,
    },

    #[error("cannot {op} \"{path}\": {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn no_such_backup(path: &str, id: Option<&str>, available: &[String]) -> String {
    match (id, available.is_empty()) {
        (_, true) => format!("\"{path}\" has no backups; backup_file creates one"),
        (Some(id), false) => format!(
            "\"{path}\" has no backup \"{id}\"; its backups, newest first: {}",
            available.join(", ")
        ),
        (None, false) => format!("\"{path}\" has no such backup"),
    }
}

impl FileError {
    /// A stable snake_case name of the variant, for callers that map errors to codes.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::BadRoot { .. } => "bad_root",
            FileError::InvalidPath { .. } => "invalid_path",
            FileError::OutsideRoot { .. } => "outside_root",
            FileError::BrokenSymlink { .. } => "broken_symlink",
            FileError::SpecialFile { .. } => "special_file",
            FileError::TooLarge { .. } => "too_large",
            FileError::NotFound { .. } => "not_found",
            FileError::NotAFile { .. } => "not_a_file",
            FileError::NotADirectory { .. } => "not_a_directory",
            FileError::InvalidUtf8 { .. } => "invalid_utf8",
            FileError::InvalidContent { .. } => "invalid_content",
            FileError::InvalidRange { .. } => "invalid_range",
            FileError::BadRegex { .. } => "bad_regex",
            FileError::BadGlob { .. } => "bad_glob",
            FileError::Conflict { .. } => "conflict",
            FileError::InBackupDir { .. } => "in_backup_dir",
            FileError::NoSuchBackup { .. } => "no_such_backup",
            FileError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: std::io::Error) -> Self {
        FileError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
