//! Where the schedules read the time. [`Clock::system`] is the wall clock. A test clock
//! ([`Clock::starting_at`]) follows tokio's time from a chosen wall time, so tests on paused
//! time (`#[tokio::test(start_paused = true)]`) run hours of schedules at once and exactly;
//! [`Clock::jump`] moves its wall time alone, as a machine waking from sleep sees it.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeZone, Utc};

/// The time the scheduler, the firing of slots and schedule changes read.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Following>>, Option<Arc<AtomicI64>>);

/// A clock following tokio's time from `wall_ms`, plus what [`Clock::jump`] added.
#[derive(Debug)]
struct Following {
    wall_ms: i64,
    since: tokio::time::Instant,
    jumped_ms: AtomicI64,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock(None, None)
    }

    /// The wall clock corrected to the store's clock (the database's, for a store shared
    /// by several machines), so workers with skewed clocks agree on when a slot is due.
    /// The offset is measured now and every minute until `stop`.
    pub async fn synced_to(
        store: baton_store::Store,
        stop: tokio_util::sync::CancellationToken,
    ) -> Clock {
        let offset = Arc::new(AtomicI64::new(0));
        let measure = {
            let (store, offset) = (store.clone(), offset.clone());
            move || {
                let (store, offset) = (store.clone(), offset.clone());
                async move {
                    let before = baton_store::now_ms();
                    if let Ok(theirs) = store.clock_ms().await {
                        let after = baton_store::now_ms();
                        offset.store(theirs - (before + after) / 2, Ordering::SeqCst);
                    }
                }
            }
        };
        measure().await;
        let skew = offset.load(Ordering::SeqCst);
        if skew.abs() > 1000 {
            tracing::warn!(
                skew_ms = skew,
                "this machine's clock differs from the store's; schedules follow the store's"
            );
        }
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => measure().await,
                    _ = stop.cancelled() => return,
                }
            }
        });
        Clock(None, Some(offset))
    }

    fn offset_ms(&self) -> i64 {
        self.1
            .as_ref()
            .map_or(0, |offset| offset.load(Ordering::SeqCst))
    }

    /// A clock that reads `wall` now and then advances with tokio's (pausable) time.
    pub fn starting_at(wall: DateTime<Utc>) -> Clock {
        Clock(
            Some(Arc::new(Following {
                wall_ms: wall.timestamp_millis(),
                since: tokio::time::Instant::now(),
                jumped_ms: AtomicI64::new(0),
            })),
            None,
        )
    }

    /// Moves a following clock's wall time forward by `ms` while tokio's time stands still
    /// (a suspended machine waking up). No effect on the system clock.
    pub fn jump(&self, ms: i64) {
        if let Some(following) = &self.0 {
            following.jumped_ms.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => baton_store::now_ms() + self.offset_ms(),
            Some(following) => {
                following.wall_ms
                    + following.since.elapsed().as_millis() as i64
                    + following.jumped_ms.load(Ordering::SeqCst)
            }
        }
    }

    /// Microseconds since the Unix epoch (for lateness figures).
    pub fn now_us(&self) -> i64 {
        match &self.0 {
            None => Utc::now().timestamp_micros() + self.offset_ms() * 1000,
            Some(following) => {
                (following.wall_ms + following.jumped_ms.load(Ordering::SeqCst)) * 1000
                    + following.since.elapsed().as_micros() as i64
            }
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms())
            .single()
            .unwrap_or_default()
    }
}
