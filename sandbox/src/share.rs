//! Sharing the async workers between guest code and everything else.
//!
//! Guest code runs on the same tokio workers that serve HTTP, and yields to the executor at
//! every epoch tick. A plain yield was not enough: a task that wakes itself is polled again
//! before the worker looks at the network (tokio polls I/O and timers only every 61 scheduler
//! ticks while tasks stay runnable), so eight guests spinning on two workers held every other
//! request for about 300 ms (61 ticks of 5 ms, the tick then) and overran their own deadlines
//! by as much. Two rules keep the host responsive:
//!
//! 1. Every yield is [`tokio::task::yield_now`], which defers the wake-up until the worker has
//!    polled the I/O driver and the timers.
//! 2. A *long* call, one whose guest code has run for longer than `busy_after`, needs one of
//!    `busy_slots` permits to go on running guest code. It gives its permit back at every tick
//!    and queues for one again (first come, first served among long calls), and gives it back
//!    whenever the guest calls the host (a long call waiting on HTTP or the key-value store
//!    holds nothing). Short calls never wait for a permit, and with fewer permits than workers
//!    long calls never hold every worker: HTTP and short calls keep a worker of their own.
//!
//! Time is measured on the guest's own clock: only time spent running guest code counts, not
//! time waiting on the host or for a permit. A long call still waiting for a permit at its
//! deadline resumes at the deadline and is interrupted at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{CallHook, UpdateDeadline};

/// The permits of long calls; one per runtime.
#[derive(Debug, Clone)]
pub(super) struct CpuShare {
    slots: Arc<Semaphore>,
    busy_after: Duration,
}

impl CpuShare {
    /// `busy_slots` permits (0: one fewer than the machine's cores, at least 1).
    pub(super) fn new(busy_slots: usize, busy_after: Duration) -> Self {
        let slots = match busy_slots {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .max(1),
            n => n,
        };
        CpuShare {
            slots: Arc::new(Semaphore::new(slots)),
            busy_after,
        }
    }

    /// The clock of one call that must stop at `deadline`.
    pub(super) fn clock(&self, deadline: Instant) -> GuestClock {
        GuestClock {
            share: self.clone(),
            deadline,
            ran: Duration::ZERO,
            since: None,
            permit: Arc::default(),
            resumed: false,
            long: false,
        }
    }
}

/// How long one call's guest code has run, and its permit while it is a long call.
pub(super) struct GuestClock {
    share: CpuShare,
    deadline: Instant,
    ran: Duration,
    /// When the guest last started running (`None` while the host runs).
    since: Option<Instant>,
    /// Filled by the future that waited for it.
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    /// The last tick yielded; this one only restarts the clock.
    resumed: bool,
    /// The call has asked for a permit at least once (until then there is none to give back).
    long: bool,
}

impl GuestClock {
    fn stop(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.ran += now.saturating_duration_since(since);
        }
    }

    fn release(&self) {
        if self.long {
            self.permit.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    /// Control passes between guest and host.
    pub(super) fn hook(&mut self, hook: CallHook) {
        let now = Instant::now();
        if hook.entering_host() {
            self.stop(now);
            self.release();
        } else {
            self.since = Some(now);
        }
    }

    /// The epoch ticked while guest code ran.
    pub(super) fn tick(&mut self) -> UpdateDeadline {
        let now = Instant::now();
        if now >= self.deadline {
            self.release();
            return UpdateDeadline::Interrupt;
        }
        if self.resumed {
            // Back from the yield below: start the guest's clock again, check the deadline
            // and yield again one tick from now.
            self.resumed = false;
            self.since = Some(now);
            return UpdateDeadline::Continue(1);
        }
        self.stop(now);
        // Resume with a deadline of zero ticks: the next check comes straight back here.
        self.resumed = true;
        if self.ran < self.share.busy_after {
            return UpdateDeadline::YieldCustom(0, Box::pin(tokio::task::yield_now()));
        }
        self.release();
        self.long = true;
        let slots = self.share.slots.clone();
        let permit = self.permit.clone();
        let deadline = tokio::time::Instant::from_std(self.deadline);
        UpdateDeadline::YieldCustom(
            0,
            Box::pin(async move {
                tokio::task::yield_now().await;
                if let Ok(Ok(granted)) =
                    tokio::time::timeout_at(deadline, slots.acquire_owned()).await
                {
                    *permit.lock().unwrap_or_else(|e| e.into_inner()) = Some(granted);
                }
            }),
        )
    }
}
