//! Searching: context, globs, limits, case, binary files, bad patterns.

use super::{Project, project, project_with};
use crate::files::{FileError, Limits, SearchOptions, SearchResult};

fn search(p: &Project, pattern: &str, opts: SearchOptions) -> SearchResult {
    p.sandbox.search(pattern, &opts).expect("search")
}

fn hits(result: &SearchResult) -> Vec<(String, u64)> {
    result
        .matches
        .iter()
        .map(|m| (m.path.clone(), m.line_number))
        .collect()
}

fn sample() -> Project {
    let p = project();
    p.put(".gitignore", "generated/\n");
    p.put(
        "src/lib.rs",
        "// line 1\nfn alpha() {}\n// line 3\n// line 4\nfn beta() {}\n// line 6\n",
    );
    p.put("src/main.rs", "fn main() { alpha(); }\n");
    p.put("docs/guide.md", "Call Alpha first.\n");
    p.put("generated/out.rs", "fn alpha_generated() {}\n");
    p
}

#[test]
fn finds_matches_with_line_numbers_in_path_order() {
    let p = sample();
    let result = search(&p, r"fn \w+\(", SearchOptions::default());
    assert_eq!(
        hits(&result),
        [
            ("src/lib.rs".to_string(), 2),
            ("src/lib.rs".to_string(), 5),
            ("src/main.rs".to_string(), 1)
        ]
    );
    assert_eq!(result.matches[0].line, "fn alpha() {}");
    assert_eq!((result.files_searched, result.files_matched), (3, 2));
    assert!(!result.truncated);
    assert!(result.matches[0].before.is_empty() && result.matches[0].after.is_empty());
}

#[test]
fn context_lines_before_and_after_each_match() {
    let p = sample();
    let opts = SearchOptions {
        context_lines: 2,
        path: "src/lib.rs".into(),
        ..SearchOptions::default()
    };
    let result = search(&p, "^fn", opts);
    let [alpha, beta] = &result.matches[..] else {
        panic!("two matches: {result:?}");
    };
    assert_eq!(alpha.before, ["// line 1"]);
    assert_eq!(alpha.after, ["// line 3", "// line 4"]);
    // Lines shared by two matches' context appear in both.
    assert_eq!(beta.before, ["// line 3", "// line 4"]);
    assert_eq!(beta.after, ["// line 6"]);
}

#[test]
fn case_insensitive_and_fixed_strings() {
    let p = sample();
    let sensitive = search(&p, "alpha", SearchOptions::default());
    assert_eq!(sensitive.matches.len(), 2, "{sensitive:?}");
    let insensitive = search(
        &p,
        "alpha",
        SearchOptions {
            case_insensitive: true,
            ..SearchOptions::default()
        },
    );
    assert_eq!(insensitive.matches.len(), 3);
    assert_eq!(insensitive.matches[0].path, "docs/guide.md");
    let literal = search(
        &p,
        "alpha()",
        SearchOptions {
            fixed_strings: true,
            ..SearchOptions::default()
        },
    );
    assert_eq!(
        hits(&literal),
        [
            ("src/lib.rs".to_string(), 2),
            ("src/main.rs".to_string(), 1)
        ]
    );
}

#[test]
fn globs_excludes_and_gitignore() {
    let p = sample();
    let md = search(
        &p,
        "(?i)alpha",
        SearchOptions {
            globs: vec!["*.md".into()],
            ..SearchOptions::default()
        },
    );
    assert_eq!(hits(&md), [("docs/guide.md".to_string(), 1)]);
    let no_src = search(
        &p,
        "(?i)alpha",
        SearchOptions {
            exclude: vec!["src".into()],
            ..SearchOptions::default()
        },
    );
    assert_eq!(hits(&no_src), [("docs/guide.md".to_string(), 1)]);
    let ignored_too = search(
        &p,
        "alpha_generated",
        SearchOptions {
            respect_gitignore: false,
            ..SearchOptions::default()
        },
    );
    assert_eq!(hits(&ignored_too), [("generated/out.rs".to_string(), 1)]);
    assert!(
        search(&p, "alpha_generated", SearchOptions::default())
            .matches
            .is_empty()
    );
}

#[test]
fn match_limits_truncate() {
    let p = project_with(Limits {
        max_matches: 5,
        ..Limits::default()
    });
    let body: String = (1..=10).map(|i| format!("hit {i}\n")).collect();
    p.put("a.txt", &body);
    p.put("b.txt", &body);
    let capped = search(&p, "hit", SearchOptions::default());
    assert_eq!(capped.matches.len(), 5);
    assert!(capped.truncated);
    let three = search(
        &p,
        "hit",
        SearchOptions {
            max_matches: Some(3),
            context_lines: 1,
            ..SearchOptions::default()
        },
    );
    assert_eq!(hits(&three).len(), 3);
    assert!(three.truncated);
    assert_eq!(
        three.matches[2].after,
        ["hit 4"],
        "context of the last match is complete"
    );
    // Exactly as many matches as allowed is not truncated.
    p.put("b.txt", "hit\n");
    p.put("a.txt", "hit\nhit\nhit\nhit\n");
    let exact = search(&p, "hit", SearchOptions::default());
    assert_eq!(exact.matches.len(), 5);
    assert!(!exact.truncated);
}

#[test]
fn binary_and_oversized_files_are_skipped() {
    let p = project_with(Limits {
        max_search_file_bytes: 100,
        ..Limits::default()
    });
    p.put("text.txt", "needle\n");
    p.put("blob.bin", b"needle\n\0\x01\x02 needle\n");
    p.put("big.txt", format!("needle\n{}", "x".repeat(200)));
    let result = search(&p, "needle", SearchOptions::default());
    assert_eq!(hits(&result), [("text.txt".to_string(), 1)]);
    assert_eq!(result.binary_files_skipped, 1);
    assert_eq!(result.files_searched, 1);
    let big = result
        .skipped
        .iter()
        .find(|s| s.path == "big.txt")
        .expect("reported");
    assert!(big.reason.contains("100 bytes"), "{}", big.reason);
    let smaller = search(
        &p,
        "needle",
        SearchOptions {
            max_file_bytes: Some(5),
            ..SearchOptions::default()
        },
    );
    assert!(smaller.matches.is_empty());
    let err = p
        .sandbox
        .search(
            "needle",
            &SearchOptions {
                path: "big.txt".into(),
                ..SearchOptions::default()
            },
        )
        .expect_err("one file over the limit");
    assert!(matches!(err, FileError::TooLarge { .. }), "{err:?}");
}

#[test]
fn long_lines_are_cut() {
    let p = project();
    p.put(
        "min.js",
        format!("{}needle{}\n", "a".repeat(600), "b".repeat(600)),
    );
    let result = search(&p, "needle", SearchOptions::default());
    let line = &result.matches[0].line;
    assert_eq!(line.chars().count(), 501);
    assert!(line.ends_with('…'));
}

#[test]
fn bad_patterns_and_paths_fail_clearly() {
    let p = sample();
    let err = p
        .sandbox
        .search("fn (", &SearchOptions::default())
        .expect_err("bad regex");
    assert!(
        matches!(err, FileError::BadRegex { ref pattern, .. } if pattern == "fn ("),
        "{err:?}"
    );
    let err = p
        .sandbox
        .search(
            "x",
            &SearchOptions {
                path: "missing".into(),
                ..SearchOptions::default()
            },
        )
        .expect_err("missing path");
    assert!(matches!(err, FileError::NotFound { .. }), "{err:?}");
    let err = p
        .sandbox
        .search(
            "x",
            &SearchOptions {
                globs: vec!["{a".into()],
                ..SearchOptions::default()
            },
        )
        .expect_err("bad glob");
    assert!(matches!(err, FileError::BadGlob { .. }), "{err:?}");
}
