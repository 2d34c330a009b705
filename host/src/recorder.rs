//! Off the hot path: calls are counted and logged by a background writer, in batches.
//!
//! The execute endpoints answer as soon as the handler returned; the statistics, last calls
//! and the call log are written by this task, what arrives within [`GATHER`] in one
//! transaction. The queue
//! is bounded: when the database falls behind, senders wait rather than lose calls.

use crate::store::{CallRecord, Store};
use tokio::sync::{mpsc, oneshot};

/// Most records written in one transaction.
const BATCH: usize = 512;

/// How long the writer waits for more records before writing a batch: the delay before a
/// call shows in the statistics and the call log (and before a flush that arrives meanwhile
/// is answered).
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

enum Message {
    Record(Box<CallRecord>),
    Flush(oneshot::Sender<()>),
}

/// Sends call records to the writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Record(r) => write!(f, "Record({})", r.webhook_id),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Recorder {
    /// Starts the writer task for `store`.
    pub fn start(store: Store) -> Recorder {
        let (tx, mut rx) = mpsc::channel::<Message>(16 * 1024);
        tokio::spawn(async move {
            let mut messages = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut messages, BATCH).await > 0 {
                // Gather for a moment: a transaction costs about as much for one call as for a
                // hundred (its pages, its statistics update, its commit). Asleep, not waiting
                // on the queue: a waiting receiver is woken by every send, a wake-up per call
                // on another thread. A flush goes at once.
                let flushing = |m: &[Message]| m.iter().any(|m| matches!(m, Message::Flush(_)));
                if messages.len() < BATCH && !flushing(&messages) {
                    tokio::time::sleep(GATHER).await;
                    while messages.len() < BATCH {
                        match rx.try_recv() {
                            Ok(message) => messages.push(message),
                            Err(_) => break,
                        }
                    }
                }
                let mut records = Vec::with_capacity(messages.len());
                let mut waiting = Vec::new();
                for message in messages.drain(..) {
                    match message {
                        Message::Record(r) => records.push(*r),
                        Message::Flush(done) => waiting.push(done),
                    }
                }
                if !records.is_empty() {
                    write(&store, &records).await;
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        Recorder { tx }
    }

    /// Queues one record (waits only when the writer is far behind).
    pub async fn record(&self, record: CallRecord) {
        if self
            .tx
            .send(Message::Record(Box::new(record)))
            .await
            .is_err()
        {
            tracing::error!("call recorder stopped; a call was not recorded");
        }
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write(store: &Store, batch: &[CallRecord]) {
    for attempt in 1..=5u64 {
        match store.record_calls(batch).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(error = %error, attempt, records = batch.len(), "writing call records failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
            }
        }
    }
    tracing::error!(records = batch.len(), "giving up on writing call records");
}
