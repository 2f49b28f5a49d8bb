//! SIGTERM and SIGINT: blocked in every thread and received by one thread with
//! `sigwait`, which starts the graceful stop (a second signal exits at once). This is
//! what lets the server run as PID 1 in a container.

/// The blocked termination signals, ready to be waited for.
pub struct Signals {
    set: libc::sigset_t,
    /// False when `pthread_sigmask` failed: the signals keep their default action (the
    /// process ends at once), and nothing waits for them.
    blocked: bool,
}

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later.
/// Call before starting any thread.
#[allow(
    unsafe_code,
    reason = "sigset_t and pthread_sigmask have no safe std wrapper"
)]
pub fn block_termination() -> Signals {
    // SAFETY: plain libc calls on a local, zero-initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0;
        Signals { set, blocked }
    }
}

impl Signals {
    /// Starts a thread that runs `on_first` at the first signal and exits the process with
    /// status 1 at the second.
    #[allow(unsafe_code, reason = "sigwait has no safe std wrapper")]
    pub fn on_termination(self, mut on_first: impl FnMut() + Send + 'static) {
        if !self.blocked {
            log::warn!("cannot block SIGTERM/SIGINT: a signal stops the server at once, without draining requests");
            return;
        }
        std::thread::spawn(move || {
            let mut received = 0;
            loop {
                let mut signal: libc::c_int = 0;
                // SAFETY: `set` was initialised by block_termination.
                let rc = unsafe { libc::sigwait(&self.set, &mut signal) };
                if rc != 0 {
                    // Only an invalid set fails, and it would fail forever: stop waiting.
                    log::error!("sigwait failed ({rc}): termination signals are no longer handled");
                    return;
                }
                received += 1;
                if received > 1 {
                    log::warn!("second termination signal: exiting now");
                    std::process::exit(1);
                }
                let name = if signal == libc::SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                log::info!("{name} received: stopping");
                on_first();
            }
        });
    }
}
