//! Backups on overwrite, pruning, restore round trips.

use std::fs;

use super::{project, project_with};
use crate::files::{FileError, Limits, Sandbox, SearchOptions, WriteOptions, sha256_hex};

#[test]
fn overwriting_backs_up_the_previous_version() {
    let p = project();
    p.put("src/lib.rs", "v1\n");
    let result = p
        .sandbox
        .write("src/lib.rs", "v2\n", &WriteOptions::default())
        .expect("write");
    let backup = result.backup.expect("backed up");
    assert_eq!(backup.path, "src/lib.rs");
    assert_eq!(
        (backup.size, backup.sha256.as_str()),
        (3, sha256_hex(b"v1\n").as_str())
    );
    chrono::DateTime::parse_from_rfc3339(&backup.created).expect("RFC 3339");
    let stored = p.root.join(".baton/backups/src/lib.rs").join(&backup.id);
    assert_eq!(fs::read(stored).expect("stored backup"), b"v1\n");
    assert_eq!(p.sandbox.backups("src/lib.rs").expect("list"), [backup]);
    // Backups are invisible to searches, even of hidden files.
    let hidden = SearchOptions {
        include_hidden: true,
        ..SearchOptions::default()
    };
    let found = p.sandbox.search("v1", &hidden).expect("search");
    assert!(found.matches.is_empty(), "{found:?}");

    let off = WriteOptions {
        backup: false,
        ..WriteOptions::default()
    };
    let result = p.sandbox.write("src/lib.rs", "v3\n", &off).expect("write");
    assert_eq!(result.backup, None);
    assert_eq!(p.sandbox.backups("src/lib.rs").expect("list").len(), 1);
}

#[test]
fn backups_are_pruned_beyond_the_limit_newest_first() {
    let p = project_with(Limits {
        max_backups_per_file: 3,
        ..Limits::default()
    });
    p.put("f.txt", "v0");
    for i in 1..=5 {
        p.sandbox
            .write("f.txt", &format!("v{i}"), &WriteOptions::default())
            .expect("write");
    }
    let backups = p.sandbox.backups("f.txt").expect("list");
    let hashes: Vec<_> = backups.iter().map(|b| b.sha256.clone()).collect();
    let expected: Vec<_> = ["v4", "v3", "v2"]
        .iter()
        .map(|v| sha256_hex(v.as_bytes()))
        .collect();
    assert_eq!(hashes, expected, "newest first, oldest pruned");
    let ids: Vec<_> = backups.iter().map(|b| b.id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
}

#[test]
fn restore_round_trip_backs_up_the_current_version_first() {
    let p = project();
    for v in ["v1\n", "v2\n", "v3\n"] {
        p.sandbox
            .write("f.txt", v, &WriteOptions::default())
            .expect("write");
    }
    let before = p.sandbox.backups("f.txt").expect("list");
    assert_eq!(before.len(), 2, "v1 and v2");
    assert_eq!(before[0].sha256, sha256_hex(b"v2\n"));

    // Default: the newest backup.
    let restored = p.sandbox.restore("f.txt", None).expect("restore");
    assert_eq!(p.get("f.txt"), b"v2\n");
    assert_eq!(restored.restored, before[0]);
    assert_eq!(restored.sha256, sha256_hex(b"v2\n"));
    let safety = restored.safety_backup.expect("safety backup");
    assert_eq!(safety.sha256, sha256_hex(b"v3\n"));
    let after = p.sandbox.backups("f.txt").expect("list");
    assert_eq!(after.len(), 3);
    assert_eq!(after[0], safety, "the safety backup is the newest");

    // A chosen one.
    let v1 = &before[1];
    let restored = p
        .sandbox
        .restore("f.txt", Some(&v1.id))
        .expect("restore v1");
    assert_eq!(p.get("f.txt"), b"v1\n");
    assert_eq!(restored.restored.id, v1.id);
    // And back to v3 from its safety backup.
    p.sandbox
        .restore("f.txt", Some(&safety.id))
        .expect("restore v3");
    assert_eq!(p.get("f.txt"), b"v3\n");
    let leftovers: Vec<_> = super::Project::tree(&p.root)
        .into_iter()
        .filter(|path| path.contains(".baton-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn restoring_the_oldest_backup_at_the_limit_still_works() {
    let p = project_with(Limits {
        max_backups_per_file: 1,
        ..Limits::default()
    });
    p.put("f.txt", "v1");
    p.sandbox
        .write("f.txt", "v2", &WriteOptions::default())
        .expect("write");
    // The safety backup of v2 prunes the v1 backup being restored.
    let restored = p.sandbox.restore("f.txt", None).expect("restore");
    assert_eq!(p.get("f.txt"), b"v1");
    let backups = p.sandbox.backups("f.txt").expect("list");
    assert_eq!(backups, [restored.safety_backup.expect("safety")]);
}

#[test]
fn a_deleted_file_is_restored_without_a_safety_backup() {
    let p = project();
    p.put("gone/f.txt", "v1");
    let backup = p.sandbox.backup("gone/f.txt").expect("backup");
    assert_eq!(backup.sha256, sha256_hex(b"v1"));
    fs::remove_dir_all(p.root.join("gone")).expect("delete");
    let restored = p.sandbox.restore("gone/f.txt", None).expect("restore");
    assert_eq!(restored.safety_backup, None);
    assert_eq!(p.get("gone/f.txt"), b"v1");
}

#[test]
fn unknown_backups_and_missing_files_are_reported() {
    let p = project();
    let err = p.sandbox.restore("f.txt", None).expect_err("no backups");
    assert!(matches!(err, FileError::NoSuchBackup { .. }));
    assert!(err.to_string().contains("has no backups"), "{err}");
    let err = p.sandbox.backup("f.txt").expect_err("no file");
    assert!(matches!(err, FileError::NotFound { .. }), "{err:?}");

    p.put("f.txt", "v1");
    let backup = p.sandbox.backup("f.txt").expect("backup");
    for id in ["nope", "../../f.txt", "", "/etc/passwd"] {
        let err = p
            .sandbox
            .restore("f.txt", Some(id))
            .expect_err("unknown id");
        match &err {
            FileError::NoSuchBackup { available, .. } => {
                assert_eq!(available, std::slice::from_ref(&backup.id))
            }
            other => panic!("expected NoSuchBackup, got {other:?}"),
        }
        assert!(err.to_string().contains(&backup.id), "lists the ids: {err}");
    }
    assert_eq!(p.get("f.txt"), b"v1");
}

#[test]
fn a_backup_directory_outside_the_root_works() {
    let p = project();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(&p.root, Limits::default())
        .expect("sandbox")
        .with_backup_dir(elsewhere.path().join("bk"));
    p.put("f.txt", "v1");
    let result = sandbox
        .write("f.txt", "v2", &WriteOptions::default())
        .expect("write");
    let id = result.backup.expect("backup").id;
    assert!(elsewhere.path().join("bk/f.txt").join(&id).is_file());
    assert!(!p.root.join(".baton").exists());
    sandbox.restore("f.txt", Some(&id)).expect("restore");
    assert_eq!(p.get("f.txt"), b"v1");
}
