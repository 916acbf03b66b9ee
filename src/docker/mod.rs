//! The OpenHands container through the Docker API: reaching the engine, the container the
//! config asks for, pulling its image, converging the live container to it like compose
//! does, and waiting until the app answers. Returns values and `DockerError`s; never prints.

pub mod converge;
pub mod engine;
pub mod labels;
pub mod observe;
pub mod pull;
pub mod ready;
mod replace;
pub mod sandbox_env;
pub mod spec;

pub use engine::Engine;

/// Whatever went wrong with the engine or the container, each with a hint for the user.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker engine at {host}: {reason}")]
    Unreachable {
        host: String,
        reason: String,
        hint: &'static str,
    },
    #[error("image {image} is not on this Docker engine and --pull never forbids pulling it")]
    ImageMissing { image: String },
    #[error("pulling {image} failed: {message}")]
    PullFailed { image: String, message: String },
    #[error("port 127.0.0.1:{port} is already in use by another program")]
    PortTaken { port: u16 },
    #[error("a container named {name} exists that ohproxy did not create (id {id})")]
    Foreign { name: String, id: String },
    #[error("container {name} {how} (exit code {code})")]
    ExitedAtStart {
        name: String,
        how: &'static str,
        code: i64,
        log_tail: Vec<String>,
    },
    #[error(
        "the app in {name} did not answer http://127.0.0.1:{port}{path} within {secs} s \
         (last try: {last})"
    )]
    NotReady {
        name: String,
        port: u16,
        path: String,
        secs: u64,
        last: String,
    },
    /// A replacement failed and was removed; the old container was put back and started.
    #[error("{cause}; {}", restored(name, old_id, restore_error.as_deref()))]
    Replacement {
        cause: Box<DockerError>,
        name: String,
        old_id: String,
        log_tail: Vec<String>,
        /// Why the old container could not be put back, if it could not.
        restore_error: Option<String>,
    },
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DockerError::Unreachable { hint, .. } => hint.to_string(),
            DockerError::ImageMissing { image } => {
                format!("run `ohproxy up --pull missing`, or `docker pull {image}` first")
            }
            DockerError::PullFailed { .. } => {
                "check the image name and that this machine reaches its registry; \
                 a private registry needs `docker login` first"
                    .to_string()
            }
            DockerError::PortTaken { port } => format!(
                "stop what listens there (`ss -ltnp 'sport = :{port}'` shows it), or set \
                 ports.app in the config to a free port"
            ),
            DockerError::Foreign { name, .. } => format!(
                "nothing was changed; remove or rename it yourself (`docker rm -f {name}` or \
                 `docker rename {name} {name}-old`), or set openhands.container to another name"
            ),
            DockerError::ExitedAtStart { name, log_tail, .. } => {
                let mut text = String::from("the container was stopped; its log ends with:\n");
                for line in log_tail {
                    text.push_str(&format!("    | {line}\n"));
                }
                text.push_str(&format!(
                    "  `docker logs {name}` shows all of it; fix the cause and run \
                     `ohproxy up` again"
                ));
                text
            }
            DockerError::NotReady { name, .. } => format!(
                "the container is still running; `docker logs {name}` shows what it is doing"
            ),
            DockerError::Replacement {
                cause,
                log_tail,
                restore_error,
                ..
            } => replacement_hint(cause, log_tail, restore_error.is_some()),
            DockerError::Api { .. } => return None,
        })
    }
}

/// What became of the old container after a failed replacement.
fn restored(name: &str, old_id: &str, restore_error: Option<&str>) -> String {
    match restore_error {
        None => format!(
            "the replacement was removed and the previous container {old_id} runs again as {name}"
        ),
        Some(e) => format!("putting the previous container {old_id} back as {name} failed: {e}"),
    }
}

fn replacement_hint(cause: &DockerError, log_tail: &[String], not_restored: bool) -> String {
    let mut text = String::new();
    if !log_tail.is_empty() {
        text.push_str("the replacement's log ends with:\n");
        for line in log_tail {
            text.push_str(&format!("    | {line}\n"));
        }
        text.push_str("  ");
    }
    if not_restored {
        text.push_str("run `ohproxy up` again: it puts the previous container back first");
    } else if let DockerError::PortTaken { .. } = cause {
        text.push_str(&cause.hint().unwrap_or_default());
    } else {
        text.push_str("fix the cause and run `ohproxy up` again");
    }
    text
}

/// Wraps a bollard error with the action it failed in.
pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
    let action = action.into();
    move |source| DockerError::Api { action, source }
}

/// True when the engine answered with this HTTP status.
pub(crate) fn is_status(err: &bollard::errors::Error, code: u16) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code
    )
}

/// A `DockerError` as an `anyhow::Error` carrying its hint.
pub fn with_hint(err: DockerError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow::Error::from(err).context(crate::error::Hint(hint)),
        None => err.into(),
    }
}
