//! Resting connections: a keep-alive connection idle for a second ends its coroutine and
//! leaves its socket here, watched by one thread on an epoll set of its own, until the
//! client sends again (a new coroutine takes the connection up) or the idle timeout
//! passes (it is closed). An idle connection then costs its socket and a few hundred
//! bytes, not a coroutine stack: a parked coroutine keeps two stack pages resident (the
//! top frames and the bottom page where the stack-overflow sentinel lives), 8 KiB that no
//! `madvise` can give back.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// What to do with a parked connection: `true` when the client sent something (or
/// closed), `false` when its idle time ran out.
pub type Wake = Box<dyn FnOnce(bool) + Send>;

/// How often parked connections are checked for the end of their idle time.
const EXPIRY_TICK: Duration = Duration::from_millis(100);

/// Parks the connection on socket `fd` until it is readable or `until` passes, then calls
/// `wake` (from the resting thread; it should hand the work to a coroutine). If the socket
/// cannot be watched, `wake(true)` runs at once, so the connection carries on as if woken.
#[allow(unsafe_code, reason = "epoll_ctl has no safe std wrapper")]
pub fn park(fd: RawFd, until: Instant, wake: Wake) {
    let rest = resting();
    let mut parked = rest.lock();
    let key = match parked.free.pop() {
        Some(key) => key,
        None => {
            parked.slots.push(None);
            parked.slots.len() - 1
        }
    };
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        u64: key as u64,
    };
    // SAFETY: epoll_ctl reads `event`, which outlives the call; both fds are open.
    let added =
        unsafe { libc::epoll_ctl(rest.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
    if added != 0 {
        parked.free.push(key);
        drop(parked);
        return wake(true);
    }
    parked.slots[key] = Some(Parked { fd, until, wake });
}

/// A parked connection: its socket, the end of its idle time and what to do next.
struct Parked {
    fd: RawFd,
    until: Instant,
    wake: Wake,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Option<Parked>>,
    free: Vec<usize>,
}

impl Slots {
    /// Takes the connection at `key` out of the epoll set and the table.
    #[allow(unsafe_code, reason = "epoll_ctl has no safe std wrapper")]
    fn take(&mut self, epoll: RawFd, key: usize) -> Option<Parked> {
        let parked = self.slots.get_mut(key)?.take()?;
        // SAFETY: removes a registration; the event argument may be null for DEL.
        unsafe {
            libc::epoll_ctl(epoll, libc::EPOLL_CTL_DEL, parked.fd, std::ptr::null_mut());
        }
        self.free.push(key);
        Some(parked)
    }
}

struct Resting {
    epoll: OwnedFd,
    parked: Mutex<Slots>,
}

impl Resting {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.parked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The resting thread: hands readable connections back and closes expired ones.
    #[allow(unsafe_code, reason = "epoll_wait has no safe std wrapper")]
    fn run(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let mut next_check = Instant::now() + EXPIRY_TICK;
        loop {
            let wait_ms = next_check
                .saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, 1000) as libc::c_int;
            // SAFETY: epoll_wait writes at most events.len() entries into `events`.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    wait_ms,
                )
            };
            let mut woken = Vec::new();
            let mut expired = Vec::new();
            {
                let mut parked = self.lock();
                let epoll = self.epoll.as_raw_fd();
                for event in events.iter().take(usize::try_from(n).unwrap_or(0)) {
                    let key = usize::try_from(event.u64).unwrap_or(usize::MAX);
                    woken.extend(parked.take(epoll, key));
                }
                let now = Instant::now();
                if now >= next_check {
                    next_check = now + EXPIRY_TICK;
                    let due: Vec<usize> = (0..parked.slots.len())
                        .filter(|&key| parked.slots[key].as_ref().is_some_and(|p| p.until <= now))
                        .collect();
                    for key in due {
                        expired.extend(parked.take(epoll, key));
                    }
                }
            }
            for parked in woken {
                wake(parked, true);
            }
            for parked in expired {
                wake(parked, false);
            }
        }
    }
}

/// Hands a parked connection on; a panic there (a coroutine that could not be spawned)
/// costs that connection only, never the thread every parked connection depends on.
fn wake(parked: Parked, readable: bool) {
    let handed_on =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (parked.wake)(readable)));
    if handed_on.is_err() {
        log::error!("a resting connection could not be taken up again; it was closed");
    }
}

/// The resting thread and its epoll set, started on first use.
#[allow(unsafe_code, reason = "epoll_create1 has no safe std wrapper")]
fn resting() -> &'static Resting {
    static RESTING: OnceLock<&'static Resting> = OnceLock::new();
    RESTING.get_or_init(|| {
        // SAFETY: epoll_create1 returns a new descriptor that we own from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0, "cannot create the resting connections' epoll set");
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let rest: &'static Resting = Box::leak(Box::new(Resting {
            epoll,
            parked: Mutex::default(),
        }));
        std::thread::Builder::new()
            .name("resting".into())
            .spawn(move || rest.run())
            .expect("cannot start the resting connections' thread");
        rest
    })
}
