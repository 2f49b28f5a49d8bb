//! A connection's socket I/O with deadlines: non-blocking `recv`/`send` and, when the
//! socket would block, a wait on may's I/O readiness that our [`Alarm`] interrupts at the
//! deadline. may's own socket timeouts are never armed (see [`crate::runtime::timer`] for why).

use crate::runtime::timer::Alarm;
use crate::runtime::Stream;
use std::io;
use std::os::unix::io::AsRawFd;
use std::time::Instant;

/// A connected client socket and its alarm.
pub struct Socket {
    stream: Stream,
    alarm: Alarm,
}

impl Socket {
    /// Wraps an accepted stream; its alarm is registered until the socket is dropped.
    pub fn new(stream: Stream) -> Socket {
        let alarm = Alarm::new(&stream);
        Socket { stream, alarm }
    }

    /// The stream, for calls that do not wait (peer address, options).
    pub fn stream(&self) -> &std::net::TcpStream {
        self.stream.std()
    }

    /// Reads what has arrived into `buf`, waiting for it until `deadline` at most
    /// (`TimedOut` past it). `Ok(0)` is the client's end of stream.
    #[allow(
        unsafe_code,
        reason = "a non-blocking recv has no safe wrapper on may's TcpStream"
    )]
    pub fn read_by(&self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        loop {
            // SAFETY: recv writes at most buf.len() bytes into buf, which we own.
            let n = self.retry(|fd| unsafe {
                libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
            });
            match n {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.wait(deadline)?,
                Err(err) => return Err(err),
            }
        }
    }

    /// Writes all of `buf`, waiting for room in the socket until `deadline` at most
    /// (`TimedOut` past it: a client that stops reading is dropped).
    #[allow(
        unsafe_code,
        reason = "a non-blocking send has no safe wrapper on may's TcpStream"
    )]
    pub fn write_all_by(&self, mut buf: &[u8], deadline: Instant) -> io::Result<()> {
        while !buf.is_empty() {
            // SAFETY: send reads at most buf.len() bytes from buf; MSG_NOSIGNAL turns a
            // closed peer into EPIPE instead of a signal.
            let n = self.retry(|fd| unsafe {
                libc::send(
                    fd,
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            });
            match n {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.wait(deadline)?,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// True when the client's next bytes are already on the socket, so a read would not
    /// wait.
    #[allow(
        unsafe_code,
        reason = "a non-blocking peek has no safe wrapper on may's TcpStream"
    )]
    pub fn bytes_waiting(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: recv into a one-byte buffer we own; MSG_PEEK leaves the byte on the
        // socket and MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n > 0
    }

    /// Runs one non-blocking socket call, again when a signal interrupted it.
    fn retry(&self, mut call: impl FnMut(libc::c_int) -> libc::ssize_t) -> io::Result<usize> {
        loop {
            let n = call(self.stream.as_raw_fd());
            if let Ok(n) = usize::try_from(n) {
                return Ok(n);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Waits for the socket to become ready or for `deadline`, whichever comes first.
    fn wait(&self, deadline: Instant) -> io::Result<()> {
        if Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.alarm.wait(&self.stream, deadline);
        Ok(())
    }
}
