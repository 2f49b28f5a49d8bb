//! SIGTERM and SIGINT: blocked in every thread and received by one thread with
//! `sigwait`, which starts the graceful stop (a second signal exits at once). This is
//! what lets the server run as PID 1 in a container.

/// The blocked termination signals, ready to be waited for.
pub struct Signals {
    set: libc::sigset_t,
}

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later.
/// Call before starting any thread.
pub fn block_termination() -> Signals {
    // SAFETY: plain libc calls on a local, zero-initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        Signals { set }
    }
}

impl Signals {
    /// Starts a thread that runs `on_first` at the first signal and exits the process with
    /// status 1 at the second.
    pub fn on_termination(self, mut on_first: impl FnMut() + Send + 'static) {
        std::thread::spawn(move || {
            let mut received = 0;
            loop {
                let mut signal: libc::c_int = 0;
                // SAFETY: `set` was initialised by block_termination.
                if unsafe { libc::sigwait(&self.set, &mut signal) } != 0 {
                    continue;
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
