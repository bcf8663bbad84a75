//! Tests of the file tools, on temporary directories.

use std::{
    fs,
    path::{Path, PathBuf},
};

use tempfile::TempDir;

use super::{FileError, Limits, Sandbox};

mod backups;
mod escape;
mod list;
mod read_write;
mod search;

/// A project root (with a canonical path) and a sandbox over it.
struct Project {
    _dir: TempDir,
    root: PathBuf,
    sandbox: Sandbox,
}

fn project() -> Project {
    project_with(Limits::default())
}

fn project_with(limits: Limits) -> Project {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = fs::canonicalize(dir.path()).expect("canonical temp dir");
    let sandbox = Sandbox::new(&root, limits).expect("sandbox");
    Project {
        _dir: dir,
        root,
        sandbox,
    }
}

impl Project {
    /// Writes a file below the root, creating directories.
    fn put(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    fn get(&self, rel: &str) -> Vec<u8> {
        fs::read(self.root.join(rel)).expect("read")
    }

    fn link(&self, target: impl AsRef<Path>, rel: &str) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, path).expect("symlink");
    }

    /// Every path below a directory (recursively), relative to it.
    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).expect("read_dir") {
                let path = entry.expect("entry").path();
                out.push(
                    path.strip_prefix(dir)
                        .expect("prefix")
                        .display()
                        .to_string(),
                );
                if fs::symlink_metadata(&path).expect("lstat").is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }
}

/// An outside directory with a secret file.
fn outside() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fs::canonicalize(dir.path()).expect("canonical");
    fs::write(path.join("secret.txt"), "secret\n").expect("write secret");
    (dir, path)
}

#[track_caller]
fn assert_outside<T: std::fmt::Debug>(result: Result<T, FileError>) {
    match result {
        Err(e @ FileError::OutsideRoot { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("outside the project root"),
                "unclear message: {message}"
            );
        }
        other => panic!("expected OutsideRoot, got {other:?}"),
    }
}
