use super::*;

fn idle_for(seconds: u64) -> (Record, Instant) {
    let now = Instant::now() + Duration::from_secs(3600);
    let record = Record {
        params: Some(b"{}".to_vec().into_boxed_slice()),
        initialized: true,
        last_active: Some(now - Duration::from_secs(seconds)),
        ..Record::default()
    };
    (record, now)
}

#[test]
fn only_an_initialized_stateless_idle_session_without_streams_is_parkable() {
    let park_after = Duration::from_secs(10);
    let (record, now) = idle_for(11);
    assert!(record.parkable(now, park_after));
    let (record, now) = idle_for(9);
    assert!(!record.parkable(now, park_after), "not idle long enough");
    let cases: [fn(&mut Record); 6] = [
        |r| r.initialized = false,
        |r| r.pinned = true,
        |r| r.undelivered = true,
        |r| r.streams = 1,
        |r| r.state = State::Parked,
        |r| r.params = None,
    ];
    for (index, spoil) in cases.iter().enumerate() {
        let (mut record, now) = idle_for(60);
        spoil(&mut record);
        assert!(!record.parkable(now, park_after), "case {index}");
    }
    let (mut record, now) = idle_for(60);
    record.resumable_until = Some(now + Duration::from_secs(1));
    assert!(
        !record.parkable(now, park_after),
        "a dropped stream may be resumed"
    );
    record.resumable_until = Some(now);
    assert!(record.parkable(now, park_after));
}

#[test]
fn the_lists_that_moved_are_announced_once_each() {
    let methods = |missed: Vec<ServerNotification>| -> Vec<String> {
        missed
            .iter()
            .map(|n| {
                serde_json::to_value(n).unwrap()["method"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert!(missed_lists([1, 2, 3], [1, 2, 3]).is_empty());
    assert_eq!(
        methods(missed_lists([1, 2, 3], [4, 2, 5])),
        [
            "notifications/tools/list_changed",
            "notifications/resources/list_changed"
        ]
    );
    assert_eq!(
        methods(missed_lists([0, 0, 0], [0, 1, 0])),
        ["notifications/prompts/list_changed"]
    );
}
