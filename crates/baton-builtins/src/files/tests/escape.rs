//! Every way out of the root is refused.

use std::{fs, os::unix::net::UnixListener, path::Path, process::Command};

use super::{Project, assert_outside, outside, project};
use crate::files::{
    FileError, Limits, ListOptions, ReadOptions, Sandbox, SearchOptions, WriteOptions,
};

fn read(p: &Project, path: &str) -> Result<crate::files::FileContent, FileError> {
    p.sandbox.read(path, &ReadOptions::default())
}

fn write(p: &Project, path: &str) -> Result<crate::files::WriteResult, FileError> {
    let opts = WriteOptions {
        create_dirs: true,
        ..WriteOptions::default()
    };
    p.sandbox.write(path, "pwned\n", &opts)
}

fn search_in(p: &Project, path: &str) -> Result<crate::files::SearchResult, FileError> {
    let opts = SearchOptions {
        path: path.into(),
        ..SearchOptions::default()
    };
    p.sandbox.search("secret|root", &opts)
}

#[test]
fn dot_dot_above_the_root_is_refused_everywhere() {
    let p = project();
    p.put("a/x", "inside\n");
    for path in ["../x", "a/../../x", "./a/../..", "a/b/../../../x", ".."] {
        assert_outside(read(&p, path));
        assert_outside(write(&p, path));
        assert_outside(p.sandbox.list(path, &ListOptions::default()));
        assert_outside(search_in(&p, path));
        assert_outside(p.sandbox.backup(path));
        assert_outside(p.sandbox.backups(path));
        assert_outside(p.sandbox.restore(path, None));
    }
    // `..` that stays inside is fine, and reported as the real path.
    let content = read(&p, "a/../a/./x").expect("inside");
    assert_eq!(content.path, "a/x");
}

#[test]
fn absolute_paths_outside_are_refused_inside_accepted() {
    let p = project();
    let (_keep, out) = outside();
    p.put("a.txt", "hello\n");
    assert_outside(read(&p, "/etc/passwd"));
    assert_outside(read(&p, &out.join("secret.txt").display().to_string()));
    assert_outside(write(&p, &out.join("new.txt").display().to_string()));
    assert!(!out.join("new.txt").exists());
    assert_outside(p.sandbox.list("/", &ListOptions::default()));
    assert_outside(search_in(&p, "/etc"));
    // The root spelled with `..` that climbs out and back in is inside.
    let name = p.root.file_name().expect("name").to_string_lossy();
    let sneaky = format!("{}/../{name}/a.txt", p.root.display());
    assert_eq!(read(&p, &sneaky).expect("inside").path, "a.txt");
    let inside = p.root.join("a.txt").display().to_string();
    let content = read(&p, &inside).expect("absolute inside");
    assert_eq!(
        (content.path.as_str(), content.content.as_str()),
        ("a.txt", "hello\n")
    );
}

#[test]
fn symlinked_directory_to_etc_is_never_followed() {
    let p = project();
    p.link("/etc", "etc");
    p.put("ok.txt", "root of the matter\n");
    assert_outside(read(&p, "etc/passwd"));
    assert_outside(read(&p, "etc/../etc/passwd"));
    assert_outside(write(&p, "etc/baton-escape-test"));
    assert!(!Path::new("/etc/baton-escape-test").exists());
    assert_outside(p.sandbox.list("etc", &ListOptions::default()));
    assert_outside(search_in(&p, "etc"));

    // Listing and searching the root skip the link and say so.
    let listing = p.sandbox.list(".", &ListOptions::default()).expect("list");
    assert!(listing.entries.iter().all(|e| !e.path.starts_with("etc")));
    let skipped = listing
        .skipped
        .iter()
        .find(|s| s.path == "etc")
        .expect("reported");
    assert!(
        skipped.reason.contains("outside the project root"),
        "{}",
        skipped.reason
    );
    let found = search_in(&p, ".").expect("search");
    assert_eq!(found.matches.len(), 1, "{found:?}");
    assert_eq!(found.matches[0].path, "ok.txt");
    assert!(found.skipped.iter().any(|s| s.path == "etc"));
}

#[test]
fn symlinked_file_pointing_outside_is_refused() {
    let p = project();
    let (_keep, out) = outside();
    p.link(out.join("secret.txt"), "secret.txt");
    p.link("/dev/null", "null");
    assert_outside(read(&p, "secret.txt"));
    assert_outside(read(&p, "null"));
    assert_outside(read(&p, "/dev/null"));
    assert_outside(write(&p, "secret.txt"));
    assert_outside(p.sandbox.backup("secret.txt"));
    assert_outside(p.sandbox.restore("secret.txt", None));
    assert_eq!(
        fs::read_to_string(out.join("secret.txt")).expect("secret"),
        "secret\n"
    );
    let found = search_in(&p, ".").expect("search");
    assert!(found.matches.is_empty(), "{found:?}");
    assert!(found.skipped.iter().any(|s| s.path == "secret.txt"));
}

#[test]
fn symlink_in_a_parent_directory_pointing_outside_is_refused_for_new_files() {
    let p = project();
    let (_keep, out) = outside();
    p.link(&out, "sub");
    p.link(&out, "a/b/deep");
    for path in ["sub/new.txt", "sub/more/dirs/new.txt", "a/b/deep/new.txt"] {
        assert_outside(write(&p, path));
    }
    assert!(!out.join("new.txt").exists());
    assert!(!out.join("more").exists());
    // A dangling link whose target is outside: writing through it would create the target.
    p.link(out.join("missing.txt"), "dangling.txt");
    assert_outside(write(&p, "dangling.txt"));
    assert_outside(write(&p, "dangling.txt/x"));
    assert!(!out.join("missing.txt").exists());
    // A dangling link inside the root is refused with its own message.
    p.link("nowhere.txt", "broken.txt");
    match write(&p, "broken.txt") {
        Err(FileError::BrokenSymlink { path, .. }) => assert_eq!(path, "broken.txt"),
        other => panic!("expected BrokenSymlink, got {other:?}"),
    }
}

#[test]
fn symlinks_inside_the_root_resolve_to_their_target() {
    let p = project();
    p.put("real/a.txt", "one\n");
    p.link("real/a.txt", "alias.txt");
    p.link("real", "dir-alias");
    assert_eq!(read(&p, "alias.txt").expect("read").path, "real/a.txt");
    assert_eq!(
        read(&p, "dir-alias/a.txt").expect("read").path,
        "real/a.txt"
    );
    let written = write(&p, "alias.txt").expect("write through an inside link");
    assert_eq!(written.path, "real/a.txt");
    assert_eq!(p.get("real/a.txt"), b"pwned\n");
    let lstat = fs::symlink_metadata(p.root.join("alias.txt")).expect("lstat");
    assert!(lstat.file_type().is_symlink(), "the link stays a link");
    let listing = p.sandbox.list(".", &ListOptions::default()).expect("list");
    let alias = listing
        .entries
        .iter()
        .find(|e| e.path == "alias.txt")
        .expect("listed");
    assert_eq!(alias.target.as_deref(), Some("real/a.txt"));
}

#[test]
fn fifos_and_sockets_are_refused_without_blocking() {
    let p = project();
    let _socket = UnixListener::bind(p.root.join("sock")).expect("socket");
    let status = Command::new("mkfifo")
        .arg(p.root.join("fifo"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    for path in ["sock", "fifo"] {
        match read(&p, path) {
            Err(FileError::SpecialFile { path: shown, kind }) => {
                assert_eq!(shown, path);
                assert!(kind == "socket" || kind.starts_with("FIFO"), "{kind}");
            }
            other => panic!("expected SpecialFile, got {other:?}"),
        }
        assert!(matches!(
            write(&p, path),
            Err(FileError::SpecialFile { .. })
        ));
        assert!(matches!(
            p.sandbox.backup(path),
            Err(FileError::SpecialFile { .. })
        ));
        let opts = SearchOptions {
            path: path.into(),
            ..SearchOptions::default()
        };
        assert!(matches!(
            p.sandbox.search("x", &opts),
            Err(FileError::SpecialFile { .. })
        ));
    }
    let listing = p.sandbox.list(".", &ListOptions::default()).expect("list");
    assert!(listing.entries.is_empty(), "{listing:?}");
    let reasons: Vec<_> = listing.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(reasons, ["fifo", "sock"]);
    let found = search_in(&p, ".").expect("search does not block on the fifo");
    assert_eq!(found.skipped.len(), 2);
}

#[test]
fn nul_bytes_the_root_itself_and_the_backup_directory_are_refused() {
    let p = project();
    assert!(matches!(
        read(&p, "a\0b"),
        Err(FileError::InvalidPath { .. })
    ));
    assert!(matches!(
        write(&p, "a\0b"),
        Err(FileError::InvalidPath { .. })
    ));
    assert!(matches!(write(&p, "."), Err(FileError::NotAFile { .. })));
    assert!(matches!(write(&p, ""), Err(FileError::NotAFile { .. })));
    p.put("f.txt", "v1");
    write(&p, "f.txt").expect("write with backup");
    let backup_dir = ".baton/backups/f.txt";
    for path in [backup_dir, ".baton/backups/f.txt/x", "./.baton/backups/new"] {
        assert!(
            matches!(write(&p, path), Err(FileError::InBackupDir { .. })),
            "{path}"
        );
    }
    assert!(matches!(
        p.sandbox.list(".baton/backups", &ListOptions::default()),
        Err(FileError::InBackupDir { .. })
    ));
    // A link into the backup directory does not get around it.
    p.link(".baton/backups", "bk");
    assert!(matches!(
        write(&p, "bk/f.txt/x"),
        Err(FileError::InBackupDir { .. })
    ));
    let all = ListOptions {
        include_hidden: true,
        ..ListOptions::default()
    };
    let listing = p.sandbox.list(".", &all).expect("list");
    let paths: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, [".baton", "f.txt"]);
    assert!(listing.skipped.iter().any(|s| s.path == "bk"));
}

#[test]
fn a_backup_directory_symlinked_out_of_the_root_is_refused() {
    let p = project();
    let (_keep, out) = outside();
    fs::create_dir_all(p.root.join(".baton")).expect("mkdir");
    p.link(&out, ".baton/backups");
    p.put("f.txt", "v1");
    assert_outside(p.sandbox.backup("f.txt"));
    assert_outside(write(&p, "f.txt"));
    assert_eq!(
        p.get("f.txt"),
        b"v1",
        "nothing written when the backup fails"
    );
    assert_eq!(super::Project::tree(&out), ["secret.txt"]);
}

#[test]
fn a_root_that_is_not_a_directory_is_refused() {
    let p = project();
    p.put("file", "x");
    let err = Sandbox::new(p.root.join("file"), Limits::default()).expect_err("a file");
    assert!(matches!(err, FileError::BadRoot { .. }));
    let err = Sandbox::new(p.root.join("missing"), Limits::default()).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");
}
