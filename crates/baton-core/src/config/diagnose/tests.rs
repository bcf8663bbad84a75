//! Structural mistakes in plain words, with the form to write, and never hiding the file's
//! other errors.

use std::path::Path;

fn errors(text: &str) -> Vec<String> {
    match crate::config::parse(Path::new("baton.yaml"), text, &|_| None) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_string_where_a_list_is_expected_shows_the_list_to_write() {
    let all = errors("servers:\n  git:\n    command: uvx\n    args: mcp-server-git\n");
    assert_eq!(
        all,
        ["baton.yaml:4:5: servers.git.args: expected a list, e.g. args: [mcp-server-git]"]
    );
}

#[test]
fn a_list_of_named_items_where_a_map_is_expected_shows_the_map_to_write() {
    let all = errors(
        "servers:\n  a: { command: x }\nschedules:\n  - name: nightly\n    every: 1h\n    tool: baton__status\n  - name: hourly\n    cron: \"0 * * * *\"\n    tool: baton__status\n",
    );
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].starts_with("baton.yaml:3:1: schedules: expected a map keyed by name, not a list; write it as:\n  schedules:\n    nightly: { every: 1h, tool: baton__status }\n    hourly: { cron: \"0 * * * *\", tool: baton__status }"),
        "{all:?}"
    );
    for raw in ["sequence start", "mapping start", "invalid type"] {
        assert!(!all[0].contains(raw), "{all:?}");
    }
}

#[test]
fn one_structural_error_hides_none_of_the_four_others() {
    let all = errors(
        "servers:\n  git:\n    command: uvx\n    args: mcp-server-git\n  other:\n    command: x\n    resilience: { timeout: soon }\n\
         serve: { http: nowhere }\n\
         schedules:\n  bad: { every: never, tool: baton__status }\n\
         triggers:\n  t: { on: no_such_event, tool: baton__status }\n",
    );
    assert_eq!(all.len(), 5, "{all:#?}");
    let expected = [
        (
            "baton.yaml:4:5: servers.git.args: ",
            "expected a list, e.g. args: [mcp-server-git]",
        ),
        ("baton.yaml:7:", "\"soon\" is not a duration"),
        ("baton.yaml:8:", "nowhere"),
        ("baton.yaml:10:", "\"never\" is not a duration"),
        ("baton.yaml:12:", "unknown event type \"no_such_event\""),
    ];
    for ((prefix, words), error) in expected.iter().zip(&all) {
        assert!(
            error.starts_with(prefix) && error.contains(words),
            "{error} should start with {prefix} and say {words}: {all:#?}"
        );
    }
}

#[test]
fn what_a_broken_field_explains_is_not_reported_again() {
    // `command` as a list is the one error: the server is not also "missing a command".
    let all = errors("servers:\n  a:\n    command: [uvx, tool]\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].starts_with("baton.yaml:3:5: servers.a.command: expected text"),
        "{all:?}"
    );
}

#[test]
fn numbers_booleans_and_unknown_sections_are_named_plainly() {
    let all = errors(
        "servers:\n  a:\n    command: x\n    disabled: maybe\n    replicas: many\nschedule:\n  x: 1\n",
    );
    let text = all.join("\n");
    assert!(
        text.contains("servers.a.disabled: expected true or false"),
        "{text}"
    );
    assert!(
        text.contains("servers.a.replicas: expected a number, or an autoscaling pool"),
        "{text}"
    );
    assert!(
        text.contains("baton.yaml:6:1: schedule: unknown section"),
        "{text}"
    );
}
