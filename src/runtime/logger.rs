//! The log: one line per record on stderr, `<RFC 3339 UTC time> <LEVEL> [<target>] <message>`
//! (the format simple_logger wrote before), built in a per-thread buffer and written with
//! a single `write` — the access log runs on every request, so it must stay cheap.

use log::{LevelFilter, Log, Metadata, Record};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

/// Crates whose chatter is kept to warnings and errors whatever the level.
/// ureq's debug lines would also carry full request URLs (queries hold emails).
const QUIET: &[&str] = &["rustls", "may", "ureq", "ureq_proto"];

struct Logger {
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let quiet = QUIET.iter().any(|name| {
            metadata
                .target()
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        });
        let level = if quiet {
            self.level.min(LevelFilter::Warn)
        } else {
            self.level
        };
        metadata.level() <= level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with(|line| {
            // A record formatted while this thread is already logging (a Display impl
            // that logs) gets a buffer of its own instead of a double borrow.
            let mut own = String::new();
            let mut borrowed = line.try_borrow_mut();
            let line = match borrowed.as_deref_mut() {
                Ok(line) => line,
                Err(_) => &mut own,
            };
            line.clear();
            format_line(line, crate::runtime::clock::now_millis(), record);
            let _ = std::io::stderr().write_all(line.as_bytes());
            if line.capacity() > 4096 {
                // One huge record should not pin its buffer for the thread's life.
                *line = String::new();
            }
        });
    }

    fn flush(&self) {}
}

/// One log line, newline included.
fn format_line(line: &mut String, millis: i64, record: &Record) {
    crate::runtime::clock::write_rfc3339(line, millis);
    let _ = writeln!(
        line,
        " {:<5} [{}] {}",
        record.level().as_str(),
        record.target(),
        record.args()
    );
}

/// Installs the logger at `level` (the first call wins; later ones change nothing).
pub fn init(level: LevelFilter) {
    if log::set_logger(Box::leak(Box::new(Logger { level }))).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn meta(level: Level, target: &str) -> Metadata<'_> {
        Metadata::builder().level(level).target(target).build()
    }

    #[test]
    fn lines_carry_time_level_target_and_message() {
        let mut line = String::new();
        let args = format_args!("GET /health 200 {:.1}ms", 0.25);
        let record = Record::builder()
            .level(Level::Info)
            .target("hubspot_mcp_server::app")
            .args(args)
            .build();
        format_line(&mut line, 1_705_314_600_123, &record);
        assert_eq!(
            line,
            "2024-01-15T10:30:00.123Z INFO  [hubspot_mcp_server::app] GET /health 200 0.2ms\n"
        );
    }

    #[test]
    fn the_level_filters_and_noisy_crates_stay_at_warn() {
        let logger = Logger {
            level: LevelFilter::Debug,
        };
        assert!(logger.enabled(&meta(Level::Debug, "hubspot_mcp_server::http::conn")));
        assert!(!logger.enabled(&meta(Level::Trace, "hubspot_mcp_server")));
        assert!(!logger.enabled(&meta(Level::Info, "rustls::client")));
        assert!(!logger.enabled(&meta(Level::Debug, "may")));
        assert!(logger.enabled(&meta(Level::Warn, "may::io")));
        assert!(logger.enabled(&meta(Level::Info, "mayhem")));
        let quiet = Logger {
            level: LevelFilter::Error,
        };
        assert!(!quiet.enabled(&meta(Level::Warn, "rustls")));
    }
}
