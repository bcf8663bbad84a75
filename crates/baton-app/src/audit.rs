//! The audit trail's writer (`audit:`): the gateway hands each downstream use to
//! [`StoreAudit::record`], which queues it without waiting; one task writes the queue to
//! the store in batches (a transaction per batch, gathered over a quarter of a second) and
//! deletes records older than
//! `audit.keep_for` at start and every hour. [`StoreAudit::flush`] (at shutdown) returns
//! once every record queued before it is written.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use baton_mcp::audit::{AuditRecord, AuditSink};
use baton_store::{NewAudit, Store};
use tokio::sync::{mpsc, oneshot};

/// Records waiting to be written at most (a full queue drops new records and says so).
const QUEUE: usize = 10_000;
/// Records per transaction at most.
const BATCH: usize = 500;
/// How long the writer gathers records before a write (one transaction per this, at most
/// [`BATCH`] records, rather than one per call). A flush writes at once.
const GATHER: Duration = Duration::from_millis(250);
/// How often old records are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

enum Message {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// The application's [`AuditSink`]: the queue in front of the writer task.
pub struct StoreAudit {
    queue: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

impl StoreAudit {
    /// Starts the writer on `store`, keeping records for `keep_for`.
    pub fn start(store: Store, keep_for: Duration) -> Arc<StoreAudit> {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, keep_for, receiver));
        Arc::new(StoreAudit {
            queue,
            dropped: AtomicU64::new(0),
        })
    }

    /// Returns once every record queued before this call is in the store.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

impl AuditSink for StoreAudit {
    fn record(&self, record: AuditRecord) {
        if self.queue.try_send(Message::Record(record)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Said once, then at every thousandth, so a flood does not flood the log.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::warn!(
                    dropped,
                    "audit records were dropped: the store does not keep up with the calls"
                );
            }
        }
    }
}

/// Adds what arrives within [`GATHER`] to `messages`, until a batch is full or a flush
/// asks for the write.
async fn gather(receiver: &mut mpsc::Receiver<Message>, messages: &mut Vec<Message>) {
    let until = tokio::time::Instant::now() + GATHER;
    while messages.len() < BATCH && !messages.iter().any(|m| matches!(m, Message::Flush(_))) {
        let room = BATCH - messages.len();
        match tokio::time::timeout_at(until, receiver.recv_many(messages, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn write(store: Store, keep_for: Duration, mut receiver: mpsc::Receiver<Message>) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut messages = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut messages, BATCH) => {
                if received == 0 {
                    return;
                }
                gather(&mut receiver, &mut messages).await;
            }
            _ = prune.tick() => {
                let before = baton_store::now_ms() - i64::try_from(keep_for.as_millis()).unwrap_or(i64::MAX);
                match store.prune_audit(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "deleted old audit records"),
                    Err(error) => tracing::warn!(%error, "could not prune old audit records"),
                }
                continue;
            }
        }
        let mut records = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Record(record) => records.push(NewAudit {
                    at: record.at_ms,
                    principal: record.principal,
                    kind: record.kind.as_str().to_owned(),
                    name: record.name,
                    outcome: record.outcome.to_owned(),
                    duration_ms: record.duration_ms,
                    arguments_sha256: record.arguments_sha256,
                }),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !records.is_empty()
            && let Err(error) = store.insert_audit(&records).await
        {
            tracing::warn!(%error, records = records.len(), "could not write audit records");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
