//! Our own timers for coroutines: [`sleep`] and per-connection [`Alarm`]s, served by one
//! thread, so that nothing in the server uses may's timers.
//!
//! Why: may 0.3.51's timers race with its I/O wake-ups across worker threads. An I/O
//! timeout that expires as data arrives borrows the socket's `RefCell` timer slot on two
//! threads at once (seen as "already borrowed" aborts in `EventData::fast_schedule`), and
//! a coroutine sleep can be resumed on another worker before `Sleep::subscribe` has
//! finished touching it (seen as a misaligned pointer while dropping a coroutine stack).
//! Here a sleeping coroutine parks on a may channel (the same path as the blocking pool's
//! replies) and a waiting connection on `WaitIo::wait_io`; this thread sends the message
//! or calls the waker when the time comes. Neither path arms a may timer, so both races
//! are gone by construction.

use may::io::{WaitIo, WaitIoWaker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How often armed alarms are checked. Alarms serve the HTTP timeouts (seconds), so a
/// tenth of a second is precise enough, and checking every alarm costs a few µs per 10,000.
const ALARM_TICK: Duration = Duration::from_millis(100);

/// Parks the calling coroutine (or thread, outside a coroutine) for `duration`.
pub fn sleep(duration: Duration) {
    if !may::coroutine::is_coroutine() {
        return std::thread::sleep(duration);
    }
    if duration.is_zero() {
        return;
    }
    let (tx, rx) = may::sync::mpsc::channel();
    let timer = timer();
    let mut state = timer.lock();
    state.seq += 1;
    let seq = state.seq;
    state.sleepers.push(Reverse(Sleeper {
        at: Instant::now() + duration,
        seq,
        wake: tx,
    }));
    drop(state);
    timer.changed.notify_one();
    let _ = rx.recv();
}

/// A connection's alarm: while it waits for its socket, the time it must be woken at even
/// if nothing arrives (a timeout or the idle rest). Registered with the timer thread until
/// dropped.
pub struct Alarm {
    entry: Arc<AlarmEntry>,
    slot: usize,
}

struct AlarmEntry {
    /// Milliseconds since the timer's epoch at which to wake the connection; 0 when none.
    wake_at: AtomicU64,
    waker: WaitIoWaker,
}

impl Alarm {
    /// Registers an alarm for `socket`; it wakes a coroutine blocked in `socket.wait_io()`.
    pub fn new(socket: &impl WaitIo) -> Alarm {
        let entry = Arc::new(AlarmEntry {
            wake_at: AtomicU64::new(0),
            waker: socket.waker(),
        });
        let timer = timer();
        let mut state = timer.lock();
        let slot = match state.free.pop() {
            Some(slot) => {
                state.alarms[slot] = Some(entry.clone());
                slot
            }
            None => {
                state.alarms.push(Some(entry.clone()));
                state.alarms.len() - 1
            }
        };
        state.alarm_count += 1;
        let first = state.alarm_count == 1;
        drop(state);
        if first {
            timer.changed.notify_one();
        }
        Alarm { entry, slot }
    }

    /// Blocks the calling coroutine until `socket` has an event, this alarm rings at
    /// `deadline`, or a stale ring arrives; the caller retries its I/O and checks the time
    /// itself, so an early or spurious return is harmless.
    pub fn wait(&self, socket: &impl WaitIo, deadline: Instant) {
        let timer = timer();
        let at = deadline.saturating_duration_since(timer.epoch).as_millis();
        self.entry.wake_at.store(
            u64::try_from(at).unwrap_or(u64::MAX).max(1),
            Ordering::Release,
        );
        socket.wait_io();
        self.entry.wake_at.store(0, Ordering::Release);
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        let mut state = timer().lock();
        state.alarms[self.slot] = None;
        state.free.push(self.slot);
        state.alarm_count -= 1;
    }
}

struct Sleeper {
    at: Instant,
    /// Breaks ties between equal times (the heap needs a total order).
    seq: u64,
    wake: may::sync::mpsc::Sender<()>,
}

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Sleeper {}
impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sleeper {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct State {
    sleepers: BinaryHeap<Reverse<Sleeper>>,
    seq: u64,
    alarms: Vec<Option<Arc<AlarmEntry>>>,
    free: Vec<usize>,
    /// Registered alarms; while there are none the thread does not tick.
    alarm_count: usize,
}

struct Timer {
    epoch: Instant,
    state: Mutex<State>,
    changed: Condvar,
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The timer thread: wakes due sleepers at once and checks alarms every tick.
    fn run(&self) {
        let mut state = self.lock();
        let mut next_tick = Instant::now();
        loop {
            let now = Instant::now();
            while state.sleepers.peek().is_some_and(|top| top.0.at <= now) {
                if let Some(Reverse(sleeper)) = state.sleepers.pop() {
                    let _ = sleeper.wake.send(());
                }
            }
            if state.alarm_count > 0 && now >= next_tick {
                let now_ms =
                    u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
                for entry in state.alarms.iter().flatten() {
                    let at = entry.wake_at.load(Ordering::Acquire);
                    if at != 0
                        && at <= now_ms
                        && entry
                            .wake_at
                            .compare_exchange(at, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                    {
                        entry.waker.wakeup();
                    }
                }
                next_tick = now + ALARM_TICK;
            }
            let mut next = state.sleepers.peek().map(|top| top.0.at);
            if state.alarm_count > 0 {
                next = Some(next.map_or(next_tick, |at| at.min(next_tick)));
            }
            state = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(state, wait)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0)
                }
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
        }
    }
}

/// The process's timer, started on first use.
fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            epoch: Instant::now(),
            state: Mutex::default(),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("timer".into())
            .spawn(move || timer.run())
            .expect("cannot start the timer thread");
        timer
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sleeping_coroutine_wakes_and_none_before_its_time() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleepers: u64 = 500;
        for i in 0..sleepers {
            let tx = tx.clone();
            crate::runtime::spawn(move || {
                let asked = Duration::from_millis(1 + i % 50);
                let begin = Instant::now();
                sleep(asked);
                tx.send(begin.elapsed() >= asked).unwrap();
            });
        }
        let on_time = (0..sleepers)
            .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
            .filter(|&slept_enough| slept_enough)
            .count();
        assert_eq!(on_time, 500);
    }
}
