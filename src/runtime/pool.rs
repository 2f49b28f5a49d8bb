//! The blocking pool: a few OS threads that run blocking work for coroutines (HTTP calls
//! to HubSpot on one pool, registry writes on another). The coroutine sends a job over a bounded `std::sync::mpsc` queue and
//! parks on a `may::sync::mpsc` reply channel, so its worker thread moves on to other
//! coroutines (such as `/health`) while HubSpot is slow.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not produce a result.
#[derive(Debug, PartialEq)]
pub enum PoolError {
    /// The queue is full: too many calls are already waiting.
    Busy,
    /// The job panicked (logged) and produced nothing.
    Failed,
}

/// A fixed set of OS threads fed by a bounded queue.
pub struct BlockingPool {
    queue: SyncSender<Job>,
}

impl BlockingPool {
    /// Starts `threads` threads (at least one) with room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> BlockingPool {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("blocking-{i}"))
                .spawn(move || worker(&rx))
                .expect("cannot start a blocking pool thread");
        }
        BlockingPool { queue: tx }
    }

    /// Runs `job` on a pool thread and waits for its result without blocking the
    /// calling coroutine's worker thread.
    pub fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply_tx, reply_rx) = may::sync::mpsc::channel();
        let wrapped: Job = Box::new(move || {
            let _ = reply_tx.send(job());
        });
        match self.queue.try_send(wrapped) {
            Ok(()) => reply_rx.recv().map_err(|_| PoolError::Failed),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Failed),
        }
    }

    /// Queues `job` on a pool thread without waiting for it (work whose outcome the
    /// caller does not need, such as deleting expired registry entries).
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolError> {
        self.queue.try_send(Box::new(job)).map_err(|err| match err {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Failed,
        })
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log::error!("a blocking pool job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_jobs_and_survives_panics() {
        let pool = BlockingPool::new(1, 4);
        assert_eq!(pool.run(|| 6 * 7), Ok(42));
        assert_eq!(
            pool.run(|| -> u8 { panic!("boom") }),
            Err(PoolError::Failed)
        );
        assert_eq!(pool.run(|| "still alive"), Ok("still alive"));
    }

    #[test]
    fn answers_busy_when_the_queue_is_full() {
        let pool = Arc::new(BlockingPool::new(1, 1));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let blocker = pool.clone();
        let first = std::thread::spawn(move || {
            blocker.run(move || {
                started_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
            })
        });
        started_rx.recv().unwrap();
        let queued = pool.clone();
        let second = std::thread::spawn(move || queued.run(|| ()));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.run(|| ()), Err(PoolError::Busy));
        assert!(first.join().unwrap().is_ok());
        assert!(second.join().unwrap().is_ok());
    }
}
