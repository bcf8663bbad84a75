//! Reading (encodings, ranges, limits) and atomic writing.

use std::{fs, os::unix::fs::PermissionsExt};

use base64::Engine as _;

use super::{Project, project, project_with};
use crate::files::{Encoding, FileError, Limits, ReadOptions, WriteOptions, sha256_hex};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn no_temp_files(p: &Project) {
    let leftovers: Vec<_> = Project::tree(&p.root)
        .into_iter()
        .filter(|path| path.contains(".baton-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn reads_text_with_metadata() {
    let p = project();
    p.put("src/main.rs", "fn main() {}\n");
    let content = p
        .sandbox
        .read("src/main.rs", &ReadOptions::default())
        .expect("read");
    assert_eq!(content.path, "src/main.rs");
    assert_eq!(content.content, "fn main() {}\n");
    assert_eq!((content.size, content.offset, content.length), (13, 0, 13));
    assert!(!content.truncated);
    assert_eq!(content.encoding, Encoding::Utf8);
    assert_eq!(
        content.sha256.as_deref(),
        Some(sha256_hex(b"fn main() {}\n").as_str())
    );
    let modified = content.modified.expect("modified");
    chrono::DateTime::parse_from_rfc3339(&modified).expect("RFC 3339");
}

#[test]
fn reads_ranges_and_base64() {
    let p = project();
    let bytes: Vec<u8> = (0u8..=255).collect();
    p.put("bin", &bytes);
    let err = p
        .sandbox
        .read("bin", &ReadOptions::default())
        .expect_err("not UTF-8");
    assert!(
        matches!(err, FileError::InvalidUtf8 { offset: 128, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("base64"),
        "the fix is named: {err}"
    );

    let opts = ReadOptions {
        encoding: Encoding::Base64,
        offset: 250,
        length: Some(100),
    };
    let content = p.sandbox.read("bin", &opts).expect("range");
    assert_eq!(content.content, b64(&bytes[250..]));
    assert_eq!(
        (content.offset, content.length, content.truncated),
        (250, 6, false)
    );

    let opts = ReadOptions {
        encoding: Encoding::Utf8,
        offset: 65,
        length: Some(3),
    };
    let content = p.sandbox.read("bin", &opts).expect("ASCII range");
    assert_eq!((content.content.as_str(), content.truncated), ("ABC", true));
    assert_eq!(content.sha256.as_deref(), Some(sha256_hex(&bytes).as_str()));

    let past = ReadOptions {
        offset: 257,
        ..ReadOptions::default()
    };
    assert!(matches!(
        p.sandbox.read("bin", &past),
        Err(FileError::InvalidRange { size: 256, .. })
    ));
}

#[test]
fn read_limit_truncates_implicit_ranges_and_refuses_explicit_ones() {
    let p = project_with(Limits {
        max_read_bytes: 10,
        max_write_bytes: 20,
        ..Limits::default()
    });
    p.put("big.txt", "0123456789abcdefghijklmnopqrstuvwxyz");
    let content = p
        .sandbox
        .read("big.txt", &ReadOptions::default())
        .expect("truncated read");
    assert_eq!(content.content, "0123456789");
    assert!(content.truncated);
    assert_eq!((content.size, content.length), (36, 10));
    assert_eq!(content.sha256, None, "larger than max_write_bytes: no hash");
    let next = ReadOptions {
        offset: 30,
        ..ReadOptions::default()
    };
    let content = p.sandbox.read("big.txt", &next).expect("last page");
    assert_eq!(
        (content.content.as_str(), content.truncated),
        ("uvwxyz", false)
    );

    let too_much = ReadOptions {
        length: Some(11),
        ..ReadOptions::default()
    };
    let err = p
        .sandbox
        .read("big.txt", &too_much)
        .expect_err("over the limit");
    assert!(matches!(err, FileError::TooLarge { .. }));
    assert!(
        err.to_string().contains("10 bytes"),
        "names the limit: {err}"
    );

    // A cut inside a multi-byte character ends before it.
    p.put("utf8.txt", "aaaaaaaaaé and more");
    let content = p
        .sandbox
        .read("utf8.txt", &ReadOptions::default())
        .expect("cut before é");
    assert_eq!((content.content.as_str(), content.length), ("aaaaaaaaa", 9));
    assert!(content.truncated);
}

#[test]
fn reading_directories_and_missing_files_fails_clearly() {
    let p = project();
    p.put("dir/x", "");
    let err = p
        .sandbox
        .read("dir", &ReadOptions::default())
        .expect_err("dir");
    assert!(matches!(err, FileError::NotAFile { .. }));
    assert!(err.to_string().contains("list_project_structure"), "{err}");
    let err = p
        .sandbox
        .read("nope.txt", &ReadOptions::default())
        .expect_err("missing");
    assert!(matches!(err, FileError::NotFound { .. }), "{err:?}");
    let err = p
        .sandbox
        .read("dir/x/y", &ReadOptions::default())
        .expect_err("file as dir");
    assert!(
        matches!(err, FileError::NotADirectory { ref path, .. } if path == "dir/x"),
        "{err:?}"
    );
}

#[test]
fn writes_create_files_atomically_and_leave_no_temporary_files() {
    let p = project();
    let result = p
        .sandbox
        .write("notes.md", "# Notes\n", &WriteOptions::default())
        .expect("create");
    assert!(result.created);
    assert_eq!(result.path, "notes.md");
    assert_eq!(
        (result.size, result.sha256.as_str()),
        (8, sha256_hex(b"# Notes\n").as_str())
    );
    assert_eq!(result.backup, None, "nothing to back up");
    let result = p
        .sandbox
        .write("notes.md", "# Notes v2\n", &WriteOptions::default())
        .expect("overwrite");
    assert!(!result.created);
    assert_eq!(p.get("notes.md"), b"# Notes v2\n");
    // A refused write leaves nothing behind either.
    let wrong = WriteOptions {
        expected_sha256: Some("0".repeat(64)),
        ..WriteOptions::default()
    };
    p.sandbox
        .write("notes.md", "x", &wrong)
        .expect_err("conflict");
    no_temp_files(&p);
    let paths: Vec<_> = Project::tree(&p.root)
        .into_iter()
        .filter(|path| !path.starts_with(".baton"))
        .collect();
    assert_eq!(paths, ["notes.md"]);
}

#[test]
fn missing_directories_need_create_dirs() {
    let p = project();
    let err = p
        .sandbox
        .write("a/b/c.txt", "x", &WriteOptions::default())
        .expect_err("no parent");
    assert!(
        matches!(err, FileError::NotFound { ref path, .. } if path == "a/b"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("create_dirs"),
        "names the fix: {err}"
    );
    let opts = WriteOptions {
        create_dirs: true,
        ..WriteOptions::default()
    };
    p.sandbox.write("a/b/c.txt", "x", &opts).expect("created");
    assert_eq!(p.get("a/b/c.txt"), b"x");
    p.put("file", "");
    let err = p
        .sandbox
        .write("file/x.txt", "x", &opts)
        .expect_err("file as dir");
    assert!(matches!(err, FileError::NotADirectory { .. }), "{err:?}");
    let err = p.sandbox.write("a", "x", &opts).expect_err("a directory");
    assert!(matches!(err, FileError::NotAFile { .. }), "{err:?}");
}

#[test]
fn write_limit_is_enforced_for_text_and_base64() {
    let p = project_with(Limits {
        max_write_bytes: 10,
        ..Limits::default()
    });
    let err = p
        .sandbox
        .write("x", "01234567890", &WriteOptions::default())
        .expect_err("11 bytes");
    assert!(matches!(err, FileError::TooLarge { .. }));
    assert!(
        err.to_string().contains("10 bytes"),
        "names the limit: {err}"
    );
    let opts = WriteOptions {
        encoding: Encoding::Base64,
        ..WriteOptions::default()
    };
    let err = p
        .sandbox
        .write("x", &b64(&[7u8; 11]), &opts)
        .expect_err("11 bytes");
    assert!(matches!(err, FileError::TooLarge { .. }));
    let err = p
        .sandbox
        .write("x", &b64(&[7u8; 100]), &opts)
        .expect_err("100 bytes");
    assert!(matches!(err, FileError::TooLarge { .. }));
    assert!(!p.root.join("x").exists());
    p.sandbox
        .write("x", "0123456789", &WriteOptions::default())
        .expect("10 bytes");
}

#[test]
fn base64_writes_round_trip_and_bad_base64_is_refused() {
    let p = project();
    let bytes = [0u8, 159, 146, 150, 255, b'\n'];
    let opts = WriteOptions {
        encoding: Encoding::Base64,
        ..WriteOptions::default()
    };
    let result = p
        .sandbox
        .write("blob.bin", &b64(&bytes), &opts)
        .expect("write");
    assert_eq!(result.size, 6);
    assert_eq!(p.get("blob.bin"), bytes);
    let read = ReadOptions {
        encoding: Encoding::Base64,
        ..ReadOptions::default()
    };
    assert_eq!(
        p.sandbox.read("blob.bin", &read).expect("read").content,
        b64(&bytes)
    );
    let err = p
        .sandbox
        .write("blob.bin", "not base64!", &opts)
        .expect_err("bad");
    assert!(matches!(err, FileError::InvalidContent { .. }), "{err:?}");
}

#[test]
fn expected_sha256_guards_against_concurrent_changes() {
    let p = project();
    p.put("f.txt", "v1\n");
    let read = p
        .sandbox
        .read("f.txt", &ReadOptions::default())
        .expect("read");
    let seen = read.sha256.expect("hash");
    p.put("f.txt", "changed by someone else\n");
    let guarded = WriteOptions {
        expected_sha256: Some(seen.clone()),
        ..WriteOptions::default()
    };
    let err = p
        .sandbox
        .write("f.txt", "mine\n", &guarded)
        .expect_err("conflict");
    match &err {
        FileError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected, &seen);
            assert_eq!(actual, &sha256_hex(b"changed by someone else\n"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(err.to_string().contains("read the file again"), "{err}");
    assert_eq!(p.get("f.txt"), b"changed by someone else\n");
    assert!(
        p.sandbox.backups("f.txt").expect("backups").is_empty(),
        "no backup for a refused write"
    );

    let current = WriteOptions {
        expected_sha256: Some(sha256_hex(b"changed by someone else\n").to_uppercase()),
        backup: false,
        ..WriteOptions::default()
    };
    p.sandbox
        .write("f.txt", "mine\n", &current)
        .expect("matches (case-insensitive)");
    assert_eq!(p.get("f.txt"), b"mine\n");
    let err = p
        .sandbox
        .write("new.txt", "x", &guarded)
        .expect_err("no such file");
    assert!(matches!(err, FileError::Conflict { .. }), "{err:?}");
    assert!(!p.root.join("new.txt").exists());
}

#[test]
fn overwriting_keeps_the_file_permissions() {
    let p = project();
    p.put("run.sh", "#!/bin/sh\n");
    fs::set_permissions(p.root.join("run.sh"), fs::Permissions::from_mode(0o750)).expect("chmod");
    p.sandbox
        .write("run.sh", "#!/bin/sh\necho hi\n", &WriteOptions::default())
        .expect("write");
    let mode = fs::metadata(p.root.join("run.sh"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    p.sandbox
        .write("new.txt", "x", &WriteOptions::default())
        .expect("new");
    let mode = fs::metadata(p.root.join("new.txt"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o600,
        0o600,
        "a new file is readable and writable by its owner"
    );
}
