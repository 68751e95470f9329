//! The error a stage runner returns.

use std::error::Error;
use std::fmt;

type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why a stage failed: a message, a wrapped error, or a message with the error that caused
/// it. The executor adds the stage's id and kind (see [`crate::ExecError`]).
///
/// ```
/// # use dinv_pipeline::{StageError, StageResultExt};
/// fn parse(s: &str) -> Result<u32, StageError> {
///     if s.is_empty() {
///         return Err(StageError::msg("empty input"));
///     }
///     s.parse::<u32>().context(format!("parsing `{s}`"))
/// }
/// let e = parse("x").unwrap_err();
/// assert_eq!(e.chain(), "parsing `x`: invalid digit found in string");
/// ```
pub struct StageError {
    context: Option<String>,
    inner: Option<BoxError>,
    internal: bool,
}

impl StageError {
    /// An error with a message and no underlying cause.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            context: Some(message.into()),
            inner: None,
            internal: false,
        }
    }

    /// A bug in dinv rather than a problem with the input or the machine: a panic
    /// inside the stage. The executor reports it as an internal error with the advice to
    /// report it.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self {
            internal: true,
            ..Self::msg(message)
        }
    }

    /// Whether this is an internal error (a panic inside the stage: a bug in dinv).
    pub fn is_internal(&self) -> bool {
        self.internal
    }

    /// Wraps any error; it is displayed as itself.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        Self {
            context: None,
            inner: Some(Box::new(error)),
            internal: false,
        }
    }

    /// Wraps any error under a message saying what was being done; the error becomes the
    /// `source()`.
    pub fn with_context<E: Error + Send + Sync + 'static>(
        context: impl Into<String>,
        error: E,
    ) -> Self {
        Self {
            context: Some(context.into()),
            inner: Some(Box::new(error)),
            internal: false,
        }
    }

    /// Puts this error under a message saying what was being done (an internal error
    /// stays one).
    pub fn context(self, context: impl Into<String>) -> Self {
        let internal = self.internal;
        Self {
            internal,
            ..Self::with_context(context, self)
        }
    }

    /// The message and all its causes, joined by `": "`. A cause whose text is already part
    /// of the previous message is skipped.
    pub fn chain(&self) -> String {
        render_chain(self)
    }
}

/// Renders `error` and its `source()` chain on one line, skipping causes whose text the
/// previous message already contains.
pub(crate) fn render_chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut previous = out.clone();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !previous.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        previous = text;
        cause = e.source();
    }
    out
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.context, &self.inner) {
            (Some(context), _) => f.write_str(context),
            (None, Some(inner)) => fmt::Display::fmt(inner, f),
            (None, None) => f.write_str("unknown error"),
        }
    }
}

impl fmt::Debug for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

impl Error for StageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let inner = self.inner.as_deref()?;
        if self.context.is_some() {
            Some(inner)
        } else {
            inner.source()
        }
    }
}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StageError {
            fn from(e: $t) -> Self {
                Self::new(e)
            }
        }
    )*};
}

from_error!(
    crate::TableError,
    crate::ConfigError,
    std::io::Error,
    serde_json::Error
);

impl From<String> for StageError {
    fn from(message: String) -> Self {
        Self::msg(message)
    }
}

impl From<&str> for StageError {
    fn from(message: &str) -> Self {
        Self::msg(message)
    }
}

/// Adds context to any `Result` whose error is a `std::error::Error`, turning it into a
/// [`StageError`].
pub trait StageResultExt<T> {
    /// Wraps the error under `context`.
    fn context(self, context: impl Into<String>) -> Result<T, StageError>;
    /// Wraps the error under a lazily built context.
    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T, StageError>;
}

impl<T, E: Error + Send + Sync + 'static> StageResultExt<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T, StageError> {
        self.map_err(|e| StageError::with_context(context, e))
    }

    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T, StageError> {
        self.map_err(|e| StageError::with_context(context(), e))
    }
}
