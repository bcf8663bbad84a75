use std::collections::HashSet;

use baton_store::testing::{TestBackend, TestPlace};

use super::*;

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/roo/persistent-memory.md"
));

const PATTERNS: &str = "Non-Obvious Implementation Patterns";
const LOG: &str = "System Updates & Status";

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("baton.db"), 1024)
        .await
        .unwrap()
}

fn entry(memory: &str, section: &str, text: &str, mode: Option<&str>) -> Update {
    Update {
        memory: memory.into(),
        section: section.into(),
        text: text.into(),
        mode: mode.map(str::to_owned),
    }
}

fn capped(max_lines: usize) -> MemorySettings {
    MemorySettings {
        max_lines,
        ..MemorySettings::default()
    }
}

/// Lines with trailing whitespace removed, trailing blank lines dropped.
fn normalised(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_owned()
}

#[tokio::test]
async fn an_update_appends_a_timestamped_entry_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = MemorySettings::default();
    let pattern = update(
        &store,
        &settings,
        entry(
            "",
            PATTERNS,
            "  Children exit on stdin close.  ",
            Some("code"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(pattern.memory, "project");
    assert!(!pattern.entry.stamped);
    assert_eq!(pattern.entry.text, "Children exit on stdin close.");
    assert_eq!(pattern.entry.mode.as_deref(), Some("code"));
    // Section names match case-insensitively and are stored as configured.
    let log = update(
        &store,
        &settings,
        entry(
            "project",
            "system updates & status",
            "release 1.0.3",
            Some("orchestrator"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(log.entry.section, LOG);
    assert!(log.entry.stamped);
    assert!(log.archived.is_empty() && log.warning.is_none());
    assert_eq!(log.lines, 7);
    assert_eq!(log.max_lines, 300);

    let view = get(&store, &settings, "project", None).await.unwrap();
    assert_eq!(view.sections.len(), 3);
    assert_eq!(view.lines, 7);
    assert_eq!(view.markdown.lines().count(), 7);
    assert_eq!(
        view.sections[0].entries[0].text,
        "Children exit on stdin close."
    );
    assert!(view.sections[2].log && view.sections[2].configured);
    let stamped = &view.sections[2].entries[0];
    assert_eq!(stamped.mode.as_deref(), Some("orchestrator"));
    let line = view.markdown.lines().nth(6).unwrap();
    let expected = format!(
        "[{}Z] [orchestrator] - release 1.0.3",
        &stamped.timestamp[..19]
    );
    assert_eq!(line, expected);
    assert!(view.markdown.starts_with(
        "# Non-Obvious Implementation Patterns\n- Children exit on stdin close.\n\n# Development & Debug Commands\n\n# System Updates & Status\n"
    ));

    let one = get(&store, &settings, "", Some("SYSTEM UPDATES & STATUS"))
        .await
        .unwrap();
    assert_eq!(one.sections.len(), 1);
    assert_eq!(one.markdown.lines().count(), 2);
    assert_eq!(one.lines, 7, "lines count the whole memory");

    // Memories are separate.
    let other = get(&store, &settings, "other", None).await.unwrap();
    assert!(other.sections.iter().all(|s| s.entries.is_empty()));
}

#[tokio::test]
async fn unknown_sections_and_bad_input_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = MemorySettings::default();
    let error = update(&store, &settings, entry("", "Ideas", "x", None))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "memory \"project\" has no section \"Ideas\"; its sections are: \"Non-Obvious Implementation Patterns\", \"Development & Debug Commands\", \"System Updates & Status\""
    );
    let error = get(&store, &settings, "", Some("Ideas")).await.unwrap_err();
    assert!(matches!(error, MemoryError::UnknownSection { .. }));
    let error = update(&store, &settings, entry("", LOG, " \n \n", None))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "text is empty");
    let error = update(&store, &settings, entry("", LOG, "x", Some("co]de")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("bracket"), "{error}");
    let error = update(&store, &settings, entry("a\nb", LOG, "x", None))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("control character"), "{error}");
    let long = "x".repeat(MAX_TEXT + 1);
    let error = update(&store, &settings, entry("", LOG, &long, None))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("longer than"), "{error}");

    let bad = MemorySettings {
        log_section: "Log".into(),
        ..MemorySettings::default()
    };
    let error = update(&store, &bad, entry("", LOG, "x", None))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("memory settings: log_section \"Log\""),
        "{error}"
    );
    assert!(
        MemorySettings {
            sections: vec![],
            ..MemorySettings::default()
        }
        .validate()
        .is_err()
    );
    assert!(capped(3).validate().is_err());
    let twice = MemorySettings {
        sections: vec!["A".into(), "a".into()],
        log_section: "A".into(),
        max_lines: 10,
    };
    assert!(twice.validate().unwrap_err().contains("twice"));
}

#[tokio::test]
async fn the_cap_archives_the_oldest_log_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    // 3 headings + 2 blank lines = 5 lines when empty.
    let settings = capped(10);
    update(&store, &settings, entry("", PATTERNS, "a pattern", None))
        .await
        .unwrap();
    for n in 1..=4 {
        let result = update(
            &store,
            &settings,
            entry("", LOG, &format!("log {n}"), Some("m")),
        )
        .await
        .unwrap();
        assert!(result.archived.is_empty());
        assert_eq!(result.lines, 6 + n);
    }
    let result = update(&store, &settings, entry("", LOG, "log 5", Some("m")))
        .await
        .unwrap();
    assert_eq!(result.lines, 10);
    assert_eq!(result.archived.len(), 1);
    assert_eq!(result.archived[0].text, "log 1");
    assert!(result.warning.is_none());
    // A two-line entry pushes out two one-line entries.
    let result = update(&store, &settings, entry("", LOG, "log 6\nmore", None))
        .await
        .unwrap();
    let archived: Vec<&str> = result.archived.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(archived, vec!["log 2", "log 3"]);
    assert_eq!(result.lines, 10);

    let view = get(&store, &settings, "", None).await.unwrap();
    assert_eq!(view.lines, 10);
    assert_eq!(view.markdown.lines().count(), 10);
    assert_eq!(view.archived, 3);
    let log: Vec<&str> = view.sections[2]
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(log, vec!["log 4", "log 5", "log 6\nmore"]);
    assert!(
        view.markdown.ends_with("] - log 6\n  more\n"),
        "{}",
        view.markdown
    );

    let archive = archive(&store, "project", 2).await.unwrap();
    assert_eq!(archive.total, 3);
    assert_eq!(archive.entries.len(), 2);
    assert_eq!(archive.entries[0].entry.text, "log 3", "newest first");
    assert_eq!(archive.entries[1].entry.text, "log 2");
    assert_eq!(archive.entries[0].entry.mode.as_deref(), Some("m"));
}

#[tokio::test]
async fn entries_outside_the_log_are_never_archived_but_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = capped(8);
    let mut last = None;
    for n in 1..=4 {
        last = Some(
            update(
                &store,
                &settings,
                entry("", PATTERNS, &format!("p{n}"), None),
            )
            .await
            .unwrap(),
        );
    }
    let last = last.unwrap();
    assert_eq!(last.lines, 9);
    assert!(last.archived.is_empty());
    assert!(
        last.warning
            .as_deref()
            .unwrap()
            .contains("more than its cap of 8")
    );
    // The entry just written stays even when it is the only log entry.
    let log = update(&store, &settings, entry("", LOG, "new", None))
        .await
        .unwrap();
    assert!(log.archived.is_empty());
    assert!(log.warning.is_some());
    let view = get(&store, &settings, "", None).await.unwrap();
    assert_eq!(view.lines, 10);
    assert_eq!(view.archived, 0);
    // The next log entry pushes the previous one out, not itself.
    let next = update(&store, &settings, entry("", LOG, "newer", None))
        .await
        .unwrap();
    assert_eq!(next.archived.len(), 1);
    assert_eq!(next.archived[0].text, "new");
}

#[tokio::test]
async fn the_fixture_round_trips_and_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = MemorySettings::default();
    let report = import_markdown(&store, &settings, "project", FIXTURE)
        .await
        .unwrap();
    assert_eq!(report.imported, 4, "{report:?}");
    assert!(report.errors.is_empty() && report.extra_sections.is_empty());
    assert_eq!(report.lines, 9);
    let exported = export_markdown(&store, &settings, "project").await.unwrap();
    assert_eq!(normalised(&exported), normalised(FIXTURE));

    let again = import_markdown(&store, &settings, "project", FIXTURE)
        .await
        .unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 4));
    let again = import_markdown(&store, &settings, "project", &exported)
        .await
        .unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 4));

    let view = get(&store, &settings, "project", Some(LOG)).await.unwrap();
    let first = &view.sections[0].entries[0];
    assert_eq!(first.timestamp, "2025-11-01T05:13:28Z");
    assert_eq!(first.mode.as_deref(), Some("orchestrator"));
    assert_eq!(first.text, "release: 1.0.2 documentation update");
    // Written after the import, an update lands after the imported log lines.
    update(&store, &settings, entry("", LOG, "later", Some("code")))
        .await
        .unwrap();
    let exported = export_markdown(&store, &settings, "project").await.unwrap();
    assert!(exported.starts_with(&normalised(FIXTURE)), "{exported}");
    assert!(
        exported.trim_end().ends_with("[code] - later"),
        "{exported}"
    );
}

#[tokio::test]
async fn import_keeps_unknown_headings_and_reports_stray_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = MemorySettings::default();
    let text = "Intro prose before any heading\n\
        - an entry before any heading\n\
        # Ideas\n\
        loose text before an entry\n\
        - idea one\n\
        ## an unindented line\n\
        \n\
        \x20 - an indented continuation\n\
        \n\
        text after a blank line\n\
        # system updates & status\n\
        [2025-11-01T05:13:28Z] - no mode\n\
        [not a time] [x] - bad stamp\n\
        [2025-11-01T05:14:00Z] [code] - two\n\
        -\n\
        # \n";
    let report = import_markdown(&store, &settings, "notes", text)
        .await
        .unwrap();
    assert_eq!(report.extra_sections, vec!["Ideas".to_owned()]);
    assert_eq!(report.imported, 3, "{report:?}");
    let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2, 4, 6, 10, 13, 15, 16], "{report:?}");
    assert!(
        report.errors[1]
            .message
            .contains("before any `# Section` heading")
    );
    assert!(report.errors[2].message.contains("not an entry"));
    assert_eq!(report.errors[6].message, "an empty entry");
    assert_eq!(report.errors[7].message, "a heading without a name");

    let view = get(&store, &settings, "notes", Some("ideas"))
        .await
        .unwrap();
    assert!(!view.sections[0].configured);
    assert_eq!(
        view.sections[0].entries[0].text,
        "idea one\n- an indented continuation"
    );
    let exported = export_markdown(&store, &settings, "notes").await.unwrap();
    assert!(
        exported.ends_with("\n\n# Ideas\n- idea one\n  - an indented continuation\n"),
        "{exported}"
    );
    assert!(exported.contains("# System Updates & Status\n[2025-11-01T05:13:28Z] - no mode\n[2025-11-01T05:14:00Z] [code] - two\n"), "{exported}");
    // Only configured sections take updates; re-importing the export changes nothing.
    let error = update(&store, &settings, entry("notes", "Ideas", "x", None))
        .await
        .unwrap_err();
    assert!(matches!(error, MemoryError::UnknownSection { .. }));
    let again = import_markdown(&store, &settings, "notes", &exported)
        .await
        .unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 3), "{again:?}");
    assert!(again.errors.is_empty());
}

#[tokio::test]
async fn an_import_over_the_cap_archives_and_reimporting_does_not_resurrect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let settings = capped(10);
    let mut text = String::from("# System Updates & Status\n");
    for n in 0..12 {
        text.push_str(&format!("[2025-11-01T05:{n:02}:00Z] [m] - line {n}\n"));
    }
    let report = import_markdown(&store, &settings, "", &text).await.unwrap();
    assert_eq!(report.imported, 12);
    assert_eq!(report.archived.len(), 7);
    assert_eq!(report.archived[0].text, "line 0");
    assert_eq!(report.lines, 10);
    let again = import_markdown(&store, &settings, "", &text).await.unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 12));
    assert!(again.archived.is_empty());
    assert_eq!(archive(&store, "", 100).await.unwrap().total, 7);
}

#[tokio::test]
async fn concurrent_writers_lose_nothing() {
    concurrent_writers_lose_nothing_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing_on_postgres() {
    concurrent_writers_lose_nothing_on(TestBackend::Postgres).await;
}

/// Two stores (two processes) on one database write one memory at once.
async fn concurrent_writers_lose_nothing_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let store = place.store().await;
    let second = place.store().await;
    // Small enough that the cap archives while the writers run.
    let settings = capped(120);
    let mut tasks = tokio::task::JoinSet::new();
    let writers = [(store.clone(), 50, "a"), (second.clone(), 10, "b")];
    for (store, count, name) in writers {
        for task in 0..count {
            let store = store.clone();
            let settings = settings.clone();
            tasks.spawn(async move {
                for n in 0..20 {
                    let section = if n == 0 { PATTERNS } else { LOG };
                    update(
                        &store,
                        &settings,
                        entry("", section, &format!("{name}-{task}-{n}"), Some(name)),
                    )
                    .await
                    .unwrap();
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let view = get(&store, &settings, "", None).await.unwrap();
    let archived = archive(&second, "", 10_000).await.unwrap();
    let mut texts: HashSet<String> = HashSet::new();
    for section in &view.sections {
        for entry in &section.entries {
            assert!(texts.insert(entry.text.clone()), "twice: {}", entry.text);
        }
    }
    for entry in &archived.entries {
        assert!(
            texts.insert(entry.entry.text.clone()),
            "twice: {}",
            entry.entry.text
        );
    }
    assert_eq!(texts.len(), 60 * 20);
    assert_eq!(
        archived.total as usize + view.sections.iter().map(|s| s.entries.len()).sum::<usize>(),
        1200
    );
    assert!(archived.total > 0);
    assert!(archived.entries.iter().all(|e| e.entry.section == LOG));
}
