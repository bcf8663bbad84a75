//! A concurrency limit with a bounded wait queue: beyond `max_in_flight` calls, up to
//! `max_queued` wait their turn; the next one is refused at once instead of piling up.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct ConcurrencyLimit {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    max_queued: usize,
    queued: AtomicUsize,
}

/// Every slot is taken and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded {
    pub in_flight: usize,
    pub queued: usize,
}

impl ConcurrencyLimit {
    pub fn new(max_in_flight: usize, max_queued: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        ConcurrencyLimit {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            max_queued,
            queued: AtomicUsize::new(0),
        }
    }

    /// A slot, waiting in the queue if there is room in it. The slot is freed on drop.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Overloaded> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let position = self.queued.fetch_add(1, Ordering::AcqRel);
        if position >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Overloaded {
                in_flight: self.max_in_flight,
                queued: self.max_queued,
            });
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        // The semaphore is never closed.
        permit.map_err(|_| Overloaded {
            in_flight: self.max_in_flight,
            queued: self.max_queued,
        })
    }

    /// Calls waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queues_up_to_the_bound_then_refuses() {
        let limit = Arc::new(ConcurrencyLimit::new(1, 1));
        let first = limit.acquire().await.unwrap();
        assert_eq!(limit.in_flight(), 1);
        let waiting = {
            let limit = limit.clone();
            tokio::spawn(async move { limit.acquire().await.map(drop) })
        };
        // Let the waiter enter the queue.
        while limit.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            limit.acquire().await.unwrap_err(),
            Overloaded {
                in_flight: 1,
                queued: 1
            }
        );
        drop(first);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(limit.in_flight(), 0);
    }

    #[tokio::test]
    async fn zero_queue_refuses_immediately_when_full() {
        let limit = ConcurrencyLimit::new(2, 0);
        let _a = limit.acquire().await.unwrap();
        let _b = limit.acquire().await.unwrap();
        assert!(limit.acquire().await.is_err());
    }
}
