//! Listing: ignore files, globs, depth and entry limits.

use super::{Project, project};
use crate::files::{EntryKind, FileError, ListOptions, ListResult};

fn paths(result: &ListResult) -> Vec<&str> {
    result.entries.iter().map(|e| e.path.as_str()).collect()
}

fn list(p: &Project, path: &str, opts: ListOptions) -> ListResult {
    p.sandbox.list(path, &opts).expect("list")
}

fn sample() -> Project {
    let p = project();
    p.put(".gitignore", "target/\n*.log\n");
    p.put("src/main.rs", "fn main() {}\n");
    p.put("src/util/mod.rs", "\n");
    p.put("src/util/notes.txt", "\n");
    p.put("tests/it.rs", "\n");
    p.put("README.md", "# x\n");
    p.put("debug.log", "\n");
    p.put("target/debug/app", "\n");
    p.put(".env", "SECRET=1\n");
    p.put(".git/config", "[core]\n");
    p
}

#[test]
fn lists_recursively_sorted_with_kinds_and_honours_gitignore_without_a_repository() {
    let p = sample();
    let result = list(&p, ".", ListOptions::default());
    assert_eq!(
        paths(&result),
        [
            "README.md",
            "src",
            "src/main.rs",
            "src/util",
            "src/util/mod.rs",
            "src/util/notes.txt",
            "tests",
            "tests/it.rs"
        ]
    );
    assert!(!result.truncated);
    assert_eq!(result.path, ".");
    let main = &result.entries[2];
    assert_eq!((main.kind, main.size), (EntryKind::File, Some(13)));
    assert!(main.modified.is_some());
    assert_eq!(
        (result.entries[1].kind, result.entries[1].size),
        (EntryKind::Dir, None)
    );

    let everything = list(
        &p,
        ".",
        ListOptions {
            include_hidden: true,
            respect_gitignore: false,
            ..ListOptions::default()
        },
    );
    let all = paths(&everything);
    for expected in [".env", ".gitignore", "debug.log", "target/debug/app"] {
        assert!(all.contains(&expected), "{expected} in {all:?}");
    }
    assert!(
        all.iter().all(|p| !p.starts_with(".git/")),
        ".git is never listed: {all:?}"
    );
}

#[test]
fn ignore_files_of_parent_directories_apply_to_a_subdirectory() {
    let p = sample();
    p.put("src/trace.log", "\n");
    p.put("src/.ignore", "notes.txt\n");
    let result = list(&p, "src", ListOptions::default());
    assert_eq!(result.path, "src");
    assert_eq!(
        paths(&result),
        ["src/main.rs", "src/util", "src/util/mod.rs"]
    );
    // An ignored directory asked for by name is listed.
    let result = list(&p, "target", ListOptions::default());
    assert_eq!(paths(&result), ["target/debug", "target/debug/app"]);
}

#[test]
fn globs_select_and_exclude() {
    let p = sample();
    let rust = list(
        &p,
        ".",
        ListOptions {
            globs: vec!["*.rs".into()],
            ..ListOptions::default()
        },
    );
    assert_eq!(
        paths(&rust),
        ["src/main.rs", "src/util/mod.rs", "tests/it.rs"]
    );
    let direct = list(
        &p,
        ".",
        ListOptions {
            globs: vec!["src/*.rs".into()],
            ..ListOptions::default()
        },
    );
    assert_eq!(paths(&direct), ["src/main.rs"]);
    let relative_to_listed = list(
        &p,
        "src",
        ListOptions {
            globs: vec!["util/*".into()],
            ..ListOptions::default()
        },
    );
    assert_eq!(
        paths(&relative_to_listed),
        ["src/util/mod.rs", "src/util/notes.txt"]
    );
    let excluded = list(
        &p,
        ".",
        ListOptions {
            exclude: vec!["util".into(), "*.md".into()],
            ..ListOptions::default()
        },
    );
    assert_eq!(
        paths(&excluded),
        ["src", "src/main.rs", "tests", "tests/it.rs"]
    );
    let err = p
        .sandbox
        .list(
            ".",
            &ListOptions {
                globs: vec!["src/[".into()],
                ..ListOptions::default()
            },
        )
        .expect_err("bad glob");
    assert!(
        matches!(err, FileError::BadGlob { ref glob, .. } if glob == "src/["),
        "{err:?}"
    );
}

#[test]
fn depth_and_entry_limits() {
    let p = sample();
    let top = list(
        &p,
        ".",
        ListOptions {
            max_depth: Some(1),
            ..ListOptions::default()
        },
    );
    assert_eq!(paths(&top), ["README.md", "src", "tests"]);
    assert!(!top.truncated);
    let few = list(
        &p,
        ".",
        ListOptions {
            max_entries: Some(3),
            ..ListOptions::default()
        },
    );
    assert_eq!(few.entries.len(), 3);
    assert!(few.truncated);

    // The sandbox's limits cap the options.
    let limits = crate::files::Limits {
        max_entries: 2,
        max_depth: 1,
        ..crate::files::Limits::default()
    };
    let capped = crate::files::Sandbox::new(&p.root, limits).expect("sandbox");
    let result = capped
        .list(
            ".",
            &ListOptions {
                max_entries: Some(100),
                max_depth: Some(100),
                ..ListOptions::default()
            },
        )
        .expect("list");
    assert_eq!(paths(&result), ["README.md", "src"]);
    assert!(result.truncated);
}

#[test]
fn listing_a_file_or_a_missing_directory_fails_clearly() {
    let p = sample();
    let err = p
        .sandbox
        .list("README.md", &ListOptions::default())
        .expect_err("a file");
    assert!(matches!(err, FileError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("read_project_file"), "{err}");
    let err = p
        .sandbox
        .list("nope", &ListOptions::default())
        .expect_err("missing");
    assert!(matches!(err, FileError::NotFound { .. }), "{err:?}");
}
