//! Baton's event stream: every event is recorded in the store (bounded retention) and
//! then broadcast to the process's subscribers (triggers, displays) with its id.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use baton_core::schedule::EventKind;
use baton_store::{EventRow, Store, now_ms};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

/// One event: what happened (`kind`), when, and its fields (`server`, `run`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the stream (the store's id; increasing).
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub data: Map<String, Value>,
}

impl Event {
    pub fn from_row(row: EventRow) -> Option<Event> {
        Some(Event {
            id: row.id,
            at: Utc.timestamp_millis_opt(row.at).single()?,
            kind: EventKind::parse(&row.kind)?,
            data: match row.data {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        })
    }

    /// `{"id", "at", "type", "data"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "type": self.kind.as_str(),
            "data": self.data,
        })
    }
}

/// Builds an event's fields: `fields([("server", "git".into())])`.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Emits events: recorded first (in batches), then broadcast.
#[derive(Debug)]
pub struct EventBus {
    record: mpsc::UnboundedSender<(i64, EventKind, Map<String, Value>)>,
    broadcast: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus recording into `store` (or only numbering events when there is none).
    pub fn new(store: Option<Store>) -> Arc<EventBus> {
        let (record, mut queue) = mpsc::unbounded_channel::<(i64, EventKind, Map<String, Value>)>();
        let broadcast = broadcast::channel(4096).0;
        let sender = broadcast.clone();
        tokio::spawn(async move {
            let counter = AtomicI64::new(0);
            let mut batch = Vec::new();
            while queue.recv_many(&mut batch, 256).await > 0 {
                let ids = match &store {
                    Some(store) => {
                        let rows: Vec<(i64, &str, Value)> = batch
                            .iter()
                            .map(|(at, kind, data)| {
                                (*at, kind.as_str(), Value::Object(data.clone()))
                            })
                            .collect();
                        let refs: Vec<(i64, &str, &Value)> = rows
                            .iter()
                            .map(|(at, kind, data)| (*at, *kind, data))
                            .collect();
                        match store.insert_events(&refs).await {
                            Ok(ids) => ids,
                            Err(error) => {
                                tracing::warn!(%error, "could not record events");
                                batch
                                    .iter()
                                    .map(|_| counter.fetch_add(1, Ordering::Relaxed) + 1)
                                    .collect()
                            }
                        }
                    }
                    None => batch
                        .iter()
                        .map(|_| counter.fetch_add(1, Ordering::Relaxed) + 1)
                        .collect(),
                };
                for ((at, kind, data), id) in batch.drain(..).zip(ids) {
                    let event = Event {
                        id,
                        at: Utc
                            .timestamp_millis_opt(at)
                            .single()
                            .unwrap_or_else(Utc::now),
                        kind,
                        data,
                    };
                    tracing::debug!(id, kind = kind.as_str(), "event");
                    let _ = sender.send(event);
                }
            }
        });
        Arc::new(EventBus { record, broadcast })
    }

    pub fn emit(&self, kind: EventKind, data: Map<String, Value>) {
        let _ = self.record.send((now_ms(), kind, data));
    }

    /// Events from now on; a subscriber that falls 4096 behind misses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.broadcast.subscribe()
    }
}
