//! How an error reaches the user: its exit code (2 for input the user can correct, 1 for
//! everything else) and an optional hint that says how to fix it.

use std::fmt;

/// Input the user can correct (a flag, a config value, a name). Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A hint attached to an error as context; printed on its own line, not in the message.
#[derive(Debug)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Adds `.hint("...")` to results, so a command can say how to fix what failed.
pub trait WithHint<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> WithHint<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|err| err.into().context(Hint(hint.into())))
    }
}

/// Shorthand for an `Invalid` error as an `anyhow::Error`.
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    Invalid(message.into()).into()
}

/// 2 when any cause in the chain is input the user can correct, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let user_input = err.downcast_ref::<Invalid>().is_some()
        || err.chain().any(|cause| {
            cause.is::<Invalid>()
                || cause.is::<crate::names::NameError>()
                || cause.is::<crate::config::ConfigError>()
        });
    if user_input { 2 } else { 1 }
}

/// The message without its hint: every cause, outermost first, joined into one line.
pub fn message(err: &anyhow::Error) -> String {
    let hint = hint(err);
    let parts: Vec<String> = err
        .chain()
        .map(|cause| cause.to_string())
        .filter(|text| Some(text) != hint.as_ref())
        .map(|text| text.replace('\n', " "))
        .collect();
    parts.join(": ")
}

/// The hint attached anywhere in the chain, if any.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    err.downcast_ref::<Hint>().map(|h| h.0.clone())
}
