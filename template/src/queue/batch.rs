//! Grouping small writes that arrive together into one round trip.
//!
//! A busy worker starts and finishes many tasks at once; one statement (or one Redis
//! script) for all of them costs about what one costs alone. A batcher writes whatever
//! has accumulated while its previous write was in flight, so a lone item waits for
//! nothing and a crowd shares one trip.
use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Most items written in one trip.
const MAX_BATCH: usize = 512;

/// A handle that sends items to a batching writer; cheap to clone.
pub struct Batcher<T, R> {
    sender: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts a writer: `write` gets the items of one batch and returns one result per
    /// item, in order. The writer ends when the last handle is dropped.
    pub fn start<F, Fut>(write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (sender, mut receiver) = mpsc::channel::<(T, oneshot::Sender<R>)>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (items, waiters): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.drain(..).unzip();
                for (result, waiter) in write(items).await.into_iter().zip(waiters) {
                    let _ = waiter.send(result);
                }
            }
        });
        Self { sender }
    }

    /// Writes `item` with whatever else is waiting; `None` if the writer is gone.
    pub async fn write(&self, item: T) -> Option<R> {
        let (done, result) = oneshot::channel();
        self.sender.send((item, done)).await.ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn items_sent_together_share_trips_and_get_their_own_results() {
        let trips = Arc::new(AtomicUsize::new(0));
        let counted = trips.clone();
        let doubler = Batcher::start(move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                items.into_iter().map(|n| n * 2).collect()
            }
        });

        let calls: Vec<_> = (0..100)
            .map(|n| {
                let doubler = doubler.clone();
                tokio::spawn(async move { doubler.write(n).await })
            })
            .collect();
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.expect("joined").expect("written"));
        }

        assert_eq!(results, (0..100).map(|n| n * 2).collect::<Vec<_>>());
        assert!(trips.load(Ordering::SeqCst) < 100, "batched");
    }
}
