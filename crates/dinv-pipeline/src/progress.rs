//! Progress reporting: a cheap per-stage counter, shown as indicatif bars on a terminal,
//! as periodic plain lines otherwise, or not at all in quiet mode.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Minimum time between two plain-text progress lines of one stage.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

/// A stage's progress counter. Cloning gives another handle to the same counter; all
/// methods are thread-safe and cheap enough to call once per training step.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    started: Instant,
    total: AtomicU64,
    position: AtomicU64,
    message: Mutex<String>,
    sink: Sink,
}

enum Sink {
    Hidden,
    /// Milliseconds since `started` after which the next plain line may be printed.
    Plain(AtomicU64),
    Bar(ProgressBar),
}

impl Progress {
    /// A counter that displays nothing (for tests and for running a stage outside an
    /// executor).
    pub fn hidden(id: &str) -> Self {
        Self::with_sink(id, Sink::Hidden)
    }

    fn with_sink(id: &str, sink: Sink) -> Self {
        Self {
            inner: Arc::new(Inner {
                id: id.to_string(),
                started: Instant::now(),
                total: AtomicU64::new(0),
                position: AtomicU64::new(0),
                message: Mutex::new(String::new()),
                sink,
            }),
        }
    }

    /// Sets the number of units of work (0 = unknown).
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.set_length(total);
            bar.set_style(bar_style(total > 0));
        }
    }

    /// Records `delta` more units done.
    pub fn inc(&self, delta: u64) {
        let position = self.inner.position.fetch_add(delta, Ordering::Relaxed) + delta;
        match &self.inner.sink {
            Sink::Hidden => {}
            Sink::Bar(bar) => bar.inc(delta),
            Sink::Plain(next_ms) => {
                let now_ms = self.inner.started.elapsed().as_millis() as u64;
                let due = next_ms.load(Ordering::Relaxed);
                let next = now_ms + PLAIN_INTERVAL.as_millis() as u64;
                if now_ms >= due
                    && next_ms
                        .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    eprintln!("{}", self.status_line(position));
                }
            }
        }
    }

    /// Sets a short free-form status (e.g. the current loss).
    pub fn set_message(&self, message: &str) {
        if let Ok(mut m) = self.inner.message.lock() {
            m.clear();
            m.push_str(message);
        }
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.set_message(message.to_string());
        }
    }

    /// Units done so far.
    pub fn position(&self) -> u64 {
        self.inner.position.load(Ordering::Relaxed)
    }

    /// Units expected (0 = unknown).
    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// `[stage id] 45% (9000/20000), ETA 12s`, plus the message if one is set.
    fn status_line(&self, position: u64) -> String {
        let total = self.total();
        let elapsed = self.inner.started.elapsed().as_secs_f64();
        let mut line = if total > 0 {
            let fraction = position as f64 / total as f64;
            let eta = if position > 0 {
                format!(
                    "{:.0}s",
                    elapsed * (total.saturating_sub(position)) as f64 / position as f64
                )
            } else {
                "?".to_string()
            };
            format!(
                "[{}] {:.0}% ({position}/{total}), ETA {eta}",
                self.inner.id,
                100.0 * fraction
            )
        } else {
            format!("[{}] {position} done, {elapsed:.0}s elapsed", self.inner.id)
        };
        if let Ok(m) = self.inner.message.lock() {
            if !m.is_empty() {
                line.push_str(", ");
                line.push_str(&m);
            }
        }
        line
    }

    fn finish(&self) {
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.finish_and_clear();
        }
    }
}

fn bar_style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{prefix} [{bar:30}] {pos}/{len} ETA {eta} {msg}"
    } else {
        "{spinner} {prefix} {pos} {msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// How the executor talks to the user.
pub(crate) enum Reporter {
    Quiet,
    Plain,
    Terminal(MultiProgress),
}

impl Reporter {
    /// Quiet if asked, indicatif bars if stderr is a terminal, plain lines otherwise.
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            Reporter::Quiet
        } else if std::io::stderr().is_terminal() {
            Reporter::Terminal(MultiProgress::new())
        } else {
            Reporter::Plain
        }
    }

    fn line(&self, text: &str) {
        match self {
            Reporter::Quiet => {}
            Reporter::Plain => eprintln!("{text}"),
            Reporter::Terminal(multi) => {
                if multi.println(text).is_err() {
                    eprintln!("{text}");
                }
            }
        }
    }

    /// A message that matters even when nothing else is shown (still silent when quiet).
    pub(crate) fn warn(&self, text: &str) {
        self.line(&format!("warning: {text}"));
    }

    /// Another process (or run) holds the stage's lock: this one waits for it.
    pub(crate) fn waiting(&self, id: &str) {
        self.line(&format!(
            "[{id}] waiting: another process is computing this stage"
        ));
    }

    pub(crate) fn cached(&self, id: &str) {
        if let Reporter::Plain = self {
            eprintln!("[{id}] cached");
        }
    }

    /// Announces a computation and returns its progress counter.
    pub(crate) fn started(&self, id: &str, kind: &str) -> Progress {
        match self {
            Reporter::Quiet => Progress::hidden(id),
            Reporter::Plain => {
                eprintln!("[{id}] computing ({kind})");
                Progress::with_sink(
                    id,
                    Sink::Plain(AtomicU64::new(PLAIN_INTERVAL.as_millis() as u64)),
                )
            }
            Reporter::Terminal(multi) => {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(bar_style(false));
                bar.set_prefix(id.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                Progress::with_sink(id, Sink::Bar(bar))
            }
        }
    }

    pub(crate) fn finished(&self, progress: &Progress, seconds: f64, ok: bool) {
        progress.finish();
        let id = &progress.inner.id;
        if ok {
            self.line(&format!("[{id}] done in {seconds:.1}s"));
        } else {
            self.line(&format!("[{id}] failed after {seconds:.1}s"));
        }
    }

    pub(crate) fn summary(&self, total: usize, computed: usize, cached: usize, seconds: f64) {
        self.line(&format!(
            "{total} stages: {computed} computed, {cached} cached ({seconds:.1}s)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_status_line_shows_percentage_counts_and_eta() {
        let p = Progress::with_sink("fig3/train/bp", Sink::Plain(AtomicU64::new(u64::MAX)));
        p.set_total(20000);
        p.inc(9000);
        assert_eq!(p.position(), 9000);
        let line = p.status_line(p.position());
        assert!(
            line.starts_with("[fig3/train/bp] 45% (9000/20000), ETA "),
            "{line}"
        );
        p.set_message("loss 0.12");
        assert!(p.status_line(9000).ends_with("s, loss 0.12"));
        let unknown = Progress::hidden("x");
        unknown.inc(3);
        assert!(unknown.status_line(3).starts_with("[x] 3 done"));
    }
}
