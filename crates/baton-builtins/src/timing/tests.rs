use super::*;

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/roo/task_timing.tsv"
));

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("baton.db"), 1024)
        .await
        .unwrap()
}

fn start_task(task_id: &str, mode: &str, priority: Priority) -> StartTask {
    StartTask {
        task_id: task_id.into(),
        mode: mode.into(),
        task: format!("work on {task_id}"),
        priority,
    }
}

fn stop_task(task_id: &str, result: Option<&str>) -> StopTask {
    StopTask {
        task_id: task_id.into(),
        result: result.map(str::to_owned),
    }
}

/// Rows of a TSV text (header included), fields as written.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

fn ms(text: &str) -> i64 {
    parse_instant(text).unwrap()
}

fn run(run_id: &str, mode: &str, priority: Priority, start: &str, seconds: i64) -> RecordRun {
    RecordRun {
        run_id: run_id.into(),
        task_id: format!("task-{run_id}"),
        mode: mode.into(),
        task: "a run".into(),
        priority,
        source: Source::Workflow,
        start_ms: ms(start),
        end_ms: ms(start) + seconds * 1000,
        result: "completed".into(),
    }
}

#[tokio::test]
async fn start_then_stop_records_a_closed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let started = start(&store, start_task("t1", "code", Priority::Todo))
        .await
        .unwrap();
    assert!(started.open);
    assert_eq!(started.result, "started");
    assert_eq!(started.source, "tool");
    assert_eq!(started.priority, "todo");
    let stopped = stop(&store, stop_task("t1", None)).await.unwrap();
    assert_eq!(stopped.id, started.id);
    assert!(!stopped.open);
    assert_eq!(stopped.result, "completed");
    assert!(stopped.duration_ms.unwrap() >= 0);
    assert!(stopped.end.is_some());
    // Started again after the stop: a second entry.
    let again = start(&store, start_task("t1", "code", Priority::Todo))
        .await
        .unwrap();
    assert_ne!(again.id, started.id);
    let failed = stop(&store, stop_task("t1", Some("failed"))).await.unwrap();
    assert_eq!(failed.result, "failed");
}

#[tokio::test]
async fn a_double_start_and_a_stop_without_start_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let first = start(&store, start_task("t1", "code", Priority::Schedule))
        .await
        .unwrap();
    let error = start(&store, start_task("t1", "debug", Priority::Todo))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, TimingError::AlreadyStarted { id, .. } if id == first.id));
    assert!(message.contains("already started at"), "{message}");
    assert!(message.contains(&first.start), "{message}");
    assert!(message.contains("stop it first"), "{message}");

    let error = stop(&store, stop_task("nope", None)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "no started task \"nope\": start it first"
    );
    stop(&store, stop_task("t1", None)).await.unwrap();
    let error = stop(&store, stop_task("t1", None)).await.unwrap_err();
    assert!(matches!(error, TimingError::NotStarted(_)));
}

#[tokio::test]
async fn of_concurrent_starts_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let other = open(&dir).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move {
            start(
                &store,
                start_task("shared", &format!("m{i}"), Priority::Todo),
            )
            .await
        });
    }
    let mut won = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => won += 1,
            Err(TimingError::AlreadyStarted { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(won, 1);
    let report = query(&store, Filter::default()).await.unwrap();
    assert_eq!(report.totals.count, 1);
    assert_eq!(report.totals.open, 1);
}

#[tokio::test]
async fn invalid_input_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let error = start(&store, start_task("  ", "code", Priority::Todo))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "task_id is empty");
    let error = start(&store, start_task("a\tb", "code", Priority::Todo))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("control character"), "{error}");
    let error = start(&store, start_task("x", "", Priority::Todo))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "mode is empty");
    // Line breaks in a description become spaces (one line per entry in the TSV).
    let mut task = start_task("x", "code", Priority::Todo);
    task.task = "two\nlines".into();
    assert_eq!(start(&store, task).await.unwrap().task, "two lines");
    assert_eq!(
        "urgent".parse::<Priority>().unwrap_err(),
        "unknown priority \"urgent\": expected schedule or todo"
    );
    assert_eq!("Schedule".parse::<Priority>(), Ok(Priority::Schedule));
}

#[tokio::test]
async fn query_filters_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for record in [
        run("r1", "code", Priority::Todo, "2025-11-01T10:00:00Z", 60),
        run(
            "r2",
            "code",
            Priority::Schedule,
            "2025-11-01T11:00:00Z",
            120,
        ),
        run("r3", "debug", Priority::Todo, "2025-11-02T09:00:00Z", 30),
        run("r4", "debug", Priority::Todo, "2025-11-03T09:00:00Z", 90),
    ] {
        record_run(&store, record).await.unwrap();
    }
    start(&store, start_task("live", "code", Priority::Todo))
        .await
        .unwrap();

    let all = query(&store, Filter::default()).await.unwrap();
    assert_eq!(all.entries.len(), 5);
    assert!(!all.truncated);
    assert_eq!(all.entries[0].task_id, "live", "newest first");
    assert_eq!(
        all.totals,
        Totals {
            count: 5,
            open: 1,
            total_ms: 300_000,
            average_ms: Some(75_000)
        }
    );
    assert_eq!(all.open_tasks.len(), 1);
    assert_eq!(all.open_tasks[0].task_id, "live");
    let code = all.by_mode.iter().find(|s| s.name == "code").unwrap();
    assert_eq!(
        code.totals,
        Totals {
            count: 3,
            open: 1,
            total_ms: 180_000,
            average_ms: Some(90_000)
        }
    );
    let debug = all.by_mode.iter().find(|s| s.name == "debug").unwrap();
    assert_eq!(debug.totals.average_ms, Some(60_000));
    let schedule = all
        .by_priority
        .iter()
        .find(|s| s.name == "schedule")
        .unwrap();
    assert_eq!(schedule.totals.count, 1);
    assert_eq!(schedule.totals.total_ms, 120_000);
    let todo = all.by_priority.iter().find(|s| s.name == "todo").unwrap();
    assert_eq!((todo.totals.count, todo.totals.open), (4, 1));

    let debug_only = query(
        &store,
        Filter {
            mode: Some("debug".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(debug_only.totals.count, 2);
    assert_eq!(debug_only.by_mode.len(), 1);

    // A date as `to` includes the whole day; a time is inclusive.
    let day = query(
        &store,
        Filter {
            from: Some("2025-11-01".into()),
            to: Some("2025-11-01".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(day.totals.count, 2);
    let range = query(
        &store,
        Filter {
            from: Some("2025-11-01T11:00:00Z".into()),
            to: Some("2025-11-02T09:00:00+00:00".into()),
            priority: Some(Priority::Todo),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(range.totals.count, 1);
    assert_eq!(range.entries[0].run_id.as_deref(), Some("r3"));

    let limited = query(
        &store,
        Filter {
            limit: Some(2),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limited.entries.len(), 2);
    assert!(limited.truncated);
    assert_eq!(limited.totals.count, 5, "totals count every match");

    let by_task = query(
        &store,
        Filter {
            task_id: Some("task-r2".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_task.entries.len(), 1);
    assert_eq!(by_task.entries[0].source, "workflow");
}

#[tokio::test]
async fn bad_filters_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let error = query(
        &store,
        Filter {
            from: Some("yesterday".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("\"yesterday\" is not a date"),
        "{error}"
    );
    let error = query(
        &store,
        Filter {
            from: Some("2025-11-03".into()),
            to: Some("2025-11-01".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("the range is empty"), "{error}");
}

#[tokio::test]
async fn recording_a_run_again_updates_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut record = run("r1", "code", Priority::Schedule, "2025-11-01T10:00:00Z", 60);
    record.source = Source::Schedule;
    record.result = "failed".into();
    let first = record_run(&store, record.clone()).await.unwrap();
    assert_eq!(first.source, "schedule");
    assert_eq!(first.duration_ms, Some(60_000));
    record.result = "completed".into();
    record.end_ms += 30_000;
    let second = record_run(&store, record).await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.result, "completed");
    assert_eq!(second.duration_ms, Some(90_000));
    let report = query(&store, Filter::default()).await.unwrap();
    assert_eq!(report.totals.count, 1);
}

#[tokio::test]
async fn the_fixture_round_trips_and_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let report = import_tsv(&store, FIXTURE).await.unwrap();
    assert_eq!(
        report,
        ImportReport {
            imported: 2,
            duplicates: 0,
            errors: vec![]
        }
    );
    let exported = export_tsv(&store, &Filter::default()).await.unwrap();
    assert_eq!(rows(&exported), rows(FIXTURE));
    assert_eq!(rows(&exported)[0], TSV_COLUMNS.map(str::to_owned).to_vec());

    let again = import_tsv(&store, FIXTURE).await.unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 2));
    assert!(again.errors.is_empty());
    // Re-importing the export adds nothing either.
    let again = import_tsv(&store, &exported).await.unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 2));

    let report = query(&store, Filter::default()).await.unwrap();
    assert_eq!(report.totals.count, 2);
    assert_eq!(report.totals.open, 1);
    let open = &report.open_tasks[0];
    assert_eq!(open.task_id, "todo-17");
    assert_eq!(open.source, "import");
    let closed = report
        .entries
        .iter()
        .find(|entry| entry.task_id == "sched-1761482303261-0042")
        .unwrap();
    assert_eq!(closed.duration_ms, Some(949_000));
    assert_eq!(closed.end.as_deref(), Some("2025-11-01T05:05:49Z"));

    // The imported open task can be stopped, and is then exported closed.
    let stopped = stop(&store, stop_task("todo-17", Some("completed")))
        .await
        .unwrap();
    assert!(!stopped.open);
    let exported = export_tsv(
        &store,
        &Filter {
            task_id: Some("todo-17".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    let line = &rows(&exported)[1];
    assert!(!line[4].is_empty() && !line[5].is_empty(), "{line:?}");
    assert_eq!(line[7], "completed");
}

#[tokio::test]
async fn bad_lines_are_reported_with_their_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let text = "timestamp\tmode\ttask_id\tstart_time\tend_time\tduration\ttask\tresult\tpriority\r\n\
        2025-11-01T04:50:00Z\tcode\tok-1\t2025-11-01T04:50:00Z\t2025-11-01T04:51:00Z\t60\tgood\tcompleted\tschedule\r\n\
        \n\
        2025-11-01T04:50:00Z\tcode\tbad-time\tnot a time\t\t\tx\tstarted\ttodo\n\
        2025-11-01T04:50:00Z\tcode\tbad-prio\t2025-11-01T04:50:00Z\t\t\tx\tstarted\turgent\n\
        2025-11-01T04:50:00Z\tcode\tbad-end\t2025-11-01T04:50:00Z\t2025-11-01T04:40:00Z\t\tx\tdone\ttodo\n\
        2025-11-01T04:50:00Z\tcode\tbad-dur\t2025-11-01T04:50:00Z\t2025-11-01T04:51:00Z\tlong\tx\tdone\ttodo\n\
        2025-11-01T04:50:00Z\tcode\t\t2025-11-01T04:50:00Z\t\t\tx\tstarted\ttodo\n\
        2025-11-01T04:50:00Z\tcode\tbad-width\t2025-11-01T04:50:00Z\t\t\tx\tstarted\ttodo\textra\n\
        2025-11-01T04:50:00Z\tcode\tbad-open\t2025-11-01T04:50:00Z\t\t5\tx\tstarted\ttodo\n\
        \t\tok-2\t2025-11-01T06:00:00Z\t\t\tno mode\tstarted\ttodo\n\
        2025-11-01T07:00:00Z\tcode\tok-3\t2025-11-01T07:00:00Z\t2025-11-01T07:00:30Z\t\tcomputed\t\ttodo\n";
    let report = import_tsv(&store, text).await.unwrap();
    assert_eq!(report.imported, 2, "{report:?}");
    let lines: Vec<usize> = report.errors.iter().map(|error| error.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8, 9, 10, 11], "{report:?}");
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages[0].contains("start_time \"not a time\""),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("unknown priority \"urgent\""),
        "{messages:?}"
    );
    assert!(messages[2].contains("is before start_time"), "{messages:?}");
    assert!(messages[3].contains("duration \"long\""), "{messages:?}");
    assert_eq!(messages[4], "task_id is empty");
    assert!(
        messages[5].contains("10 fields, expected 9"),
        "{messages:?}"
    );
    assert!(messages[6].contains("end_time is empty"), "{messages:?}");
    assert_eq!(messages[7], "mode is empty");
    // An empty duration of a closed entry is end − start; an empty result is `completed`.
    let ok3 = query(
        &store,
        Filter {
            task_id: Some("ok-3".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ok3.entries[0].duration_ms, Some(30_000));
    assert_eq!(ok3.entries[0].result, "completed");
}

#[tokio::test]
async fn an_open_entry_next_to_an_open_one_is_a_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    start(&store, start_task("todo-17", "code", Priority::Todo))
        .await
        .unwrap();
    let report = import_tsv(&store, FIXTURE).await.unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    assert!(
        report.errors[0]
            .message
            .contains("already has an open entry"),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_header_in_another_order_and_a_file_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let text = "task_id\tpriority\tmode\tstart_time\textra\n\
        a-1\ttodo\tcode\t2025-11-01T04:50:00Z\tignored\n";
    let report = import_tsv(&store, text).await.unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    let headerless = FIXTURE.lines().skip(1).collect::<Vec<_>>().join("\n");
    let report = import_tsv(&store, &headerless).await.unwrap();
    assert_eq!(report.imported, 2, "{report:?}");
    let report = import_tsv(&store, "task_id\tstart_time\n").await.unwrap();
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].message.contains("no \"mode\" column"));

    // Export with a limit: the newest entries, oldest first.
    let exported = export_tsv(
        &store,
        &Filter {
            limit: Some(2),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    let exported = rows(&exported);
    assert_eq!(exported.len(), 3);
    assert_eq!(exported[1][2], "sched-1761482303261-0042");
    assert_eq!(exported[2][2], "todo-17");
}
