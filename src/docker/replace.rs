//! Replacing a stale container without ever leaving the user with no app. The replacement
//! is created under a temporary name while the old container still runs (ports are bound
//! only at start). Both cannot bind the app port at once, so the old one is then stopped
//! and kept under an aside name, and the replacement takes the name, starts and must
//! answer the probe; only then is the old one removed. If any step fails, the replacement
//! is removed and the old container gets its name back and is started again. An `up`
//! killed in between leaves the old container aside; the next `up` puts it back before
//! anything else.

use std::path::Path;
use std::time::Duration;

use super::converge::{self, Action, Converged, short};
use super::observe::{self, Observed};
use super::ready::{self, Probe};
use super::spec::Spec;
use super::{DockerError, Engine, labels};

/// How many lines of a failed replacement's log the error shows.
const LOG_LINES: usize = 20;

/// One replacement: the spec to run, the container it replaces and why.
pub(super) struct Replacing<'a> {
    pub spec: &'a Spec,
    pub old: &'a Observed,
    pub reason: String,
    pub config_file: &'a Path,
}

impl Replacing<'_> {
    /// Replaces the old container and waits for the replacement's app; `started` hears of
    /// it once it runs. On failure, the error says what failed and what was restored.
    pub(super) async fn run(
        self,
        engine: &Engine,
        probe: &Probe,
        started: impl FnOnce(&Converged),
    ) -> Result<(Converged, Duration), DockerError> {
        let next = next_name(self.spec);
        // What an interrupted run left and `recover` did not put back serves nothing.
        drop_leftover(engine, &next).await?;
        drop_leftover(engine, &aside_name(self.spec)).await?;
        let id = converge::create(
            engine,
            self.spec,
            &next,
            self.config_file,
            Some(&self.old.id),
        )
        .await?;
        let converged = Converged {
            action: Action::Recreated {
                old_id: self.old.id.clone(),
                reason: self.reason.clone(),
            },
            id,
        };

        let answered = match self.swap(engine, &converged.id).await {
            Ok(()) => {
                started(&converged);
                ready::wait(engine, &converged.id, probe).await
            }
            Err(e) => Err(e),
        };
        match answered {
            Ok(took) => {
                converge::remove(engine, &self.old.id).await?;
                Ok((converged, took))
            }
            Err(cause) => Err(self.roll_back(engine, &converged.id, cause).await),
        }
    }

    /// Stops the old container and sets it aside, then names and starts the replacement.
    async fn swap(&self, engine: &Engine, id: &str) -> Result<(), DockerError> {
        converge::stop(engine, &self.old.id).await?;
        converge::rename(engine, &self.old.id, &aside_name(self.spec)).await?;
        converge::rename(engine, id, &self.spec.name).await?;
        converge::start(engine, id, self.spec.app_port).await
    }

    /// Removes the replacement `id` and puts the old container back, started.
    async fn roll_back(&self, engine: &Engine, id: &str, cause: DockerError) -> DockerError {
        let log_tail = observe::log_tail(engine, id, LOG_LINES).await;
        let restore = async {
            converge::remove(engine, id).await?;
            let named = observe::container(engine, &self.old.id)
                .await?
                .map(|c| c.name);
            if named.as_deref() != Some(self.spec.name.as_str()) {
                converge::rename(engine, &self.old.id, &self.spec.name).await?;
            }
            converge::start(engine, &self.old.id, self.spec.app_port).await
        };
        DockerError::Replacement {
            cause: Box::new(cause),
            name: self.spec.name.clone(),
            old_id: short(&self.old.id).to_string(),
            log_tail,
            restore_error: restore.await.err().map(|e| e.to_string()),
        }
    }
}

/// Puts back an old container that an interrupted run left aside: the replacement that
/// holds its name was never confirmed, so it is removed. A name held by anything else is
/// left alone.
pub(super) async fn recover(engine: &Engine, spec: &Spec) -> Result<(), DockerError> {
    let aside = observe::container(engine, &aside_name(spec)).await?;
    let Some(aside) = aside.filter(Observed::managed) else {
        return Ok(());
    };
    if let Some(current) = observe::container(engine, &spec.name).await? {
        let replaces_it =
            current.managed() && current.labels.get(labels::REPLACES) == Some(&aside.id);
        if !replaces_it {
            return Ok(());
        }
        converge::remove(engine, &current.id).await?;
    }
    tracing::warn!(
        "putting back container {} ({}), left aside by an interrupted replacement",
        spec.name,
        short(&aside.id)
    );
    converge::rename(engine, &aside.id, &spec.name).await
}

/// Removes a container of ours under `name`, left by an interrupted run.
async fn drop_leftover(engine: &Engine, name: &str) -> Result<(), DockerError> {
    if let Some(left) = observe::container(engine, name).await?
        && left.managed()
    {
        converge::remove(engine, &left.id).await?;
    }
    Ok(())
}

/// The name of a replacement until the old container is set aside.
fn next_name(spec: &Spec) -> String {
    format!("{}-ohproxy-next", spec.name)
}

/// The name the old container waits under until its replacement answers.
fn aside_name(spec: &Spec) -> String {
    format!("{}-ohproxy-old", spec.name)
}
