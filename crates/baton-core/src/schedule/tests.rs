use std::collections::BTreeSet;

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn table(timing: Timing) -> Timetable {
    Timetable {
        timing,
        timezone: chrono_tz::UTC,
        days: None,
        start: None,
        until: None,
        jitter: Duration::ZERO,
    }
}

#[test]
fn intervals_are_anchored_to_their_start() {
    let mut every = table(Timing::Every(Duration::from_secs(600)));
    every.start = Some(utc("2026-11-25T10:03:00Z"));
    // Before the start: the start itself is the first slot.
    assert_eq!(
        every.next_after(utc("2026-11-25T09:00:00Z")),
        Some(utc("2026-11-25T10:03:00Z"))
    );
    assert_eq!(
        every.next_after(utc("2026-11-25T10:03:00Z")),
        Some(utc("2026-11-25T10:13:00Z"))
    );
    assert_eq!(
        every.next_after(utc("2026-11-25T10:12:59Z")),
        Some(utc("2026-11-25T10:13:00Z"))
    );
    // Without a start, slots fall on multiples of the interval since the epoch.
    let plain = table(Timing::Every(Duration::from_secs(600)));
    assert_eq!(
        plain.next_after(utc("2026-11-25T10:03:00Z")),
        Some(utc("2026-11-25T10:10:00Z"))
    );
}

#[test]
fn cron_follows_its_time_zone_across_a_clock_change() {
    let mut daily = table(Timing::Cron(Box::new(parse_cron("0 9 * * *").unwrap())));
    daily.timezone = parse_timezone("Europe/Paris").unwrap();
    // 09:00 in Paris is 08:00Z in winter time, 07:00Z after the change of 2026-03-29.
    assert_eq!(
        daily.next_after(utc("2026-03-28T00:00:00Z")),
        Some(utc("2026-03-28T08:00:00Z"))
    );
    assert_eq!(
        daily.next_after(utc("2026-03-28T08:00:00Z")),
        Some(utc("2026-03-29T07:00:00Z"))
    );
    // A weekday business-hours pattern: Friday 18:50 local is followed by Monday 08:00.
    let mut business = table(Timing::Cron(Box::new(
        parse_cron("*/10 8-18 * * 1-5").unwrap(),
    )));
    business.timezone = parse_timezone("America/New_York").unwrap();
    let friday_evening = utc("2026-11-27T23:50:00Z"); // 18:50 in New York (EST, -5)
    assert_eq!(
        business.next_after(friday_evening),
        Some(utc("2026-11-30T13:00:00Z"))
    );
}

#[test]
fn days_start_and_until_bound_the_slots() {
    let mut weekdays = table(Timing::Every(Duration::from_secs(86_400)));
    weekdays.start = Some(utc("2026-11-23T08:30:00Z")); // a Monday
    weekdays.days = Some(vec![Weekday::Mon, Weekday::Wed]);
    weekdays.until = Some(utc("2026-12-02T23:59:00Z"));
    let slots = weekdays.slots_between(
        utc("2026-11-20T00:00:00Z"),
        utc("2026-12-31T00:00:00Z"),
        100,
    );
    assert_eq!(
        slots,
        [
            utc("2026-11-23T08:30:00Z"),
            utc("2026-11-25T08:30:00Z"),
            utc("2026-11-30T08:30:00Z"),
            utc("2026-12-02T08:30:00Z"),
        ]
    );
    assert_eq!(
        weekdays.next_after(utc("2026-12-02T08:30:00Z")),
        None,
        "expired"
    );
}

#[test]
fn a_one_shot_fires_once() {
    let once = table(Timing::At(utc("2026-12-01T12:00:00Z")));
    assert_eq!(
        once.next_after(utc("2026-11-30T00:00:00Z")),
        Some(utc("2026-12-01T12:00:00Z"))
    );
    assert_eq!(once.next_after(utc("2026-12-01T12:00:00Z")), None);
}

#[test]
fn jitter_is_bounded_and_the_same_for_a_slot() {
    let mut every = table(Timing::Every(Duration::from_secs(60)));
    every.jitter = Duration::from_secs(30);
    let slot = utc("2026-11-25T10:00:00Z");
    let delay = every.jitter_for("nightly", slot);
    assert!(delay <= Duration::from_secs(30));
    assert_eq!(delay, every.jitter_for("nightly", slot), "deterministic");
    let delays: BTreeSet<Duration> = (0..50)
        .map(|minute| every.jitter_for("nightly", slot + chrono::Duration::minutes(minute)))
        .collect();
    assert!(delays.len() > 40, "spread over the range: {delays:?}");
    assert!(delays.iter().all(|d| *d <= Duration::from_secs(30)));
}

#[test]
fn inputs_are_parsed_with_clear_errors() {
    assert!(parse_cron("*/10 8-18 * * 1-5").is_ok());
    assert!(parse_cron("61 * * * *").is_err());
    assert!(
        parse_timezone("Mars/Olympus")
            .unwrap_err()
            .contains("unknown time zone")
    );
    let paris = parse_timezone("Europe/Paris").unwrap();
    assert_eq!(
        parse_time("2026-11-25 09:00", paris).unwrap(),
        utc("2026-11-25T08:00:00Z")
    );
    assert_eq!(
        parse_time("2026-11-25T09:00:00Z", paris).unwrap(),
        utc("2026-11-25T09:00:00Z")
    );
    assert!(
        parse_time("2026-03-29 02:30", paris)
            .unwrap_err()
            .contains("does not exist")
    );
    assert!(
        parse_time("soon", paris)
            .unwrap_err()
            .contains("is not a time")
    );
    assert_eq!(parse_weekday("mon"), Some(Weekday::Mon));
    assert_eq!(parse_weekday("Friday"), Some(Weekday::Fri));
}
