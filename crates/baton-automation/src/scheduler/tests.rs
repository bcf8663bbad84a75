//! The scheduler on paused tokio time and a test [`Clock`]: hours of schedules run at once
//! and exactly, against a real store and engine (the tool it calls answers at once).
//!
//! Tokio advances paused time by itself whenever the runtime is idle, also while a query is
//! on SQLite's worker thread; so a task keeps the runtime busy and the tests move time with
//! `tokio::time::advance`, then wait (bounded, in real time) for what must follow.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use baton_core::schedule::ScheduleSpec;
use baton_engine::{CallOptions, Engine, ToolCaller, ToolFailure, ToolOutput};
use baton_store::{SlotRow, Store};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{Clock, EventBus};

/// Answers every call with its arguments.
struct Echo;

impl ToolCaller for Echo {
    fn call<'a>(
        &'a self,
        _tool: &'a str,
        args: Value,
        _options: CallOptions,
    ) -> Pin<Box<dyn Future<Output = Result<ToolOutput, ToolFailure>> + Send + 'a>> {
        Box::pin(async move {
            Ok(ToolOutput {
                value: args,
                is_error: false,
            })
        })
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn firing(clock: Clock, dir: &tempfile::TempDir) -> Arc<Firing> {
    let store = Store::open(&dir.path().join("baton.db"), 1024)
        .await
        .unwrap();
    let engine = Engine::new(store.clone(), Arc::new(Echo), Vec::new(), &[]);
    Arc::new(Firing {
        store: store.clone(),
        owner: engine.owner().to_owned(),
        engine,
        bus: EventBus::new(Some(store)),
        separator: "__".to_owned(),
        clock,
    })
}

fn schedule(name: &str, spec: Value) -> Schedule {
    let spec: ScheduleSpec = serde_json::from_value(spec).unwrap();
    spec.compile(name)
        .unwrap_or_else(|problems| panic!("{problems:?}"))
}

/// Keeps the runtime busy so that paused time moves only by `advance`.
fn hold_time(stop: &CancellationToken) {
    let stop = stop.clone();
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            tokio::task::yield_now().await;
        }
    });
}

/// Lets time flow in 10 ms steps until the slots of `name` satisfy `done` and every run
/// they started has finished (at most 20 s of real time).
async fn slots_until(
    firing: &Firing,
    name: &str,
    done: impl Fn(&[SlotRow]) -> bool,
) -> Vec<SlotRow> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut slots = firing.store.slots(name, 1000).await.unwrap();
        slots.sort_by_key(|slot| slot.slot);
        let mut finished = true;
        for run in slots.iter().filter_map(|slot| slot.run.as_deref()) {
            finished &= firing.store.run(run).await.unwrap().status.is_finished();
        }
        if finished && done(&slots) {
            return slots;
        }
        assert!(Instant::now() < deadline, "slots of {name}: {slots:#?}");
        tokio::time::advance(Duration::from_millis(10)).await;
    }
}

fn count(slots: &[SlotRow], state: &str) -> usize {
    slots.iter().filter(|slot| slot.state == state).count()
}

#[tokio::test(start_paused = true)]
async fn an_hourly_schedule_fires_each_slot_once_over_five_hours() {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    hold_time(&stop);
    let firing = firing(Clock::starting_at(t0()), &dir).await;
    let hourly = schedule(
        "hourly",
        json!({"every": "1h", "start": "2026-01-01T00:00:00Z", "tool": "t__echo"}),
    );
    let _scheduler = Scheduler::start(firing.clone(), vec![hourly], stop.clone()).await;
    for hour in 1..=5 {
        tokio::time::advance(Duration::from_secs(3600)).await;
        slots_until(&firing, "hourly", |slots| count(slots, "fired") == hour).await;
    }
    let slots = firing.store.slots("hourly", 1000).await.unwrap();
    let mut fired: Vec<i64> = slots.iter().map(|slot| slot.slot).collect();
    fired.sort();
    let expected: Vec<i64> = (1..=5)
        .map(|hour| (t0() + chrono::Duration::hours(hour)).timestamp_millis())
        .collect();
    assert_eq!(fired, expected, "each hour's slot, once, none early");
    let runs = firing.store.runs(100, None).await.unwrap();
    assert_eq!(runs.len(), 5, "one run per slot");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_slot_found_over_a_minute_overdue_goes_through_the_catch_up_policy() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::starting_at(t0());
    let stop = CancellationToken::new();
    hold_time(&stop);
    let firing = firing(clock.clone(), &dir).await;
    let minutely = schedule(
        "minutely",
        json!({"every": "1m", "start": "2026-01-01T00:00:00Z", "tool": "t__echo", "catch_up": "latest", "overlap": "allow_all"}),
    );
    let _scheduler = Scheduler::start(firing.clone(), vec![minutely], stop.clone()).await;
    tokio::time::advance(Duration::from_secs(60)).await;
    slots_until(&firing, "minutely", |slots| count(slots, "fired") == 1).await;
    // The machine sleeps for ten minutes: the wall clock jumps, tokio's timers do not.
    clock.jump(10 * 60_000);
    tokio::time::advance(Duration::from_secs(60)).await;
    // The loop wakes for the 2m slot with the wall clock at 12m: that slot fires late, as a
    // slot; the ones missed while asleep go through `catch_up: latest`: the newest runs,
    // the others are recorded as missed instead of firing one after another.
    let slots = slots_until(&firing, "minutely", |slots| count(slots, "fired") >= 3).await;
    let minute = |m: i64| (t0() + chrono::Duration::minutes(m)).timestamp_millis();
    let fired: Vec<i64> = slots
        .iter()
        .filter(|slot| slot.state == "fired")
        .map(|slot| slot.slot)
        .collect();
    assert_eq!(fired[..2], [minute(1), minute(2)], "{slots:#?}");
    assert!(
        fired[2] >= minute(10),
        "the newest missed slot ran: {slots:#?}"
    );
    let missed: Vec<i64> = slots
        .iter()
        .filter(|slot| slot.state == "missed")
        .map(|slot| slot.slot)
        .collect();
    assert_eq!(missed.first(), Some(&minute(3)), "{slots:#?}");
    assert_eq!(
        missed.len() as i64,
        (fired[2] - minute(3)) / 60_000,
        "{slots:#?}"
    );
    stop.cancel();
}
