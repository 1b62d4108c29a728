//! The `log` backend: one line per record on the console, stamped with the monotonic clock.
//!
//! `[    0.104233 INFO  hello] message`. The level comes from the command line's `log=LEVEL`
//! (`error`, `warn`, `info`, `debug`, `trace`, `off`), `info` by default.

use log::{LevelFilter, Log, Metadata, Record};

use morgana_executor::executor::try_with_platform;

struct ConsoleLogger;

static LOGGER: ConsoleLogger = ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let nanos = try_with_platform(|p| p.now().as_nanos()).unwrap_or(0);
        crate::console::print(format_args!(
            "[{:5}.{:06} {:5} {}] {}\n",
            nanos / 1_000_000_000,
            nanos % 1_000_000_000 / 1000,
            record.level(),
            record.target(),
            record.args()
        ));
    }

    fn flush(&self) {}
}

/// Parses a `log=` level; `None` for an unknown word.
pub fn parse_level(word: &str) -> Option<LevelFilter> {
    Some(match word {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "warn" => LevelFilter::Warn,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => return None,
    })
}

/// Installs the console logger at `level` (once; later calls only change the level).
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_unknown_words_do_not() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("off"), Some(LevelFilter::Off));
        assert_eq!(parse_level("loud"), None);
    }
}
