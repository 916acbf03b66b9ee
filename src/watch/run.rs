//! The watch loop: subscribe to the engine's container events, sync in full, then sync
//! again shortly after each sandbox event (debounced), and every minute in case an event
//! was missed. A lost engine is reconnected with backoff and followed by a full sync; while
//! it cannot be reached, routes are removed, since its ports may be someone else's by now.
//! A refused apply leaves nginx as it was (the apply rolls back) and is retried. Every sync
//! reads the config file afresh, so an apply renders the site the user last configured;
//! a config that no longer loads stops the syncs, leaving nginx as it is, until it does.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Result, bail};
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use super::{Diff, Routes, diff, live_routes};
use crate::config::Config;
use crate::docker::Engine;
use crate::names::Domain;
use crate::nginx::{apply, sandbox_ports};
use crate::openhands::SANDBOX_NAME_PREFIX;
use crate::paths::Paths;

/// How long to wait after an event for the ones that come with it (a sandbox's start is
/// one event per container, but OpenHands may start or stop several at once).
const DEBOUNCE: Duration = Duration::from_millis(100);
/// A full sync this often, whatever the events say.
const RESYNC: Duration = Duration::from_secs(60);
/// Backoff for reconnecting and for a refused apply: doubled from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_LAST: Duration = Duration::from_secs(30);

/// The reasons of the quiet syncs.
pub const PERIODIC: &str = "periodic full sync";
pub const AFTER_EVENT: &str = "sandbox event";

/// What the loop tells its caller, to show the user.
#[derive(Debug)]
pub enum Report {
    /// The allow-list changed and nginx reloaded with it.
    Applied { diff: Diff, total: usize },
    /// The allow-list already matched the engine.
    InStep { total: usize, why: String },
    /// Something failed; the loop goes on after `retry`.
    Trouble { what: String, retry: Duration },
    /// The engine answers again after being lost (or at the first connect).
    Connected { host: String },
}

/// The watcher's memory: the site it keeps and the container each routed port belongs to.
pub struct Watch<'a> {
    paths: &'a Paths,
    /// The config's domain when watch started: the one site this watch writes to.
    domain: Domain,
    known: Routes,
}

impl<'a> Watch<'a> {
    /// A watch for the site of `config`, the config file as it was read at start.
    pub fn new(config: &Config, paths: &'a Paths) -> Watch<'a> {
        Watch {
            paths,
            domain: config.domain.clone(),
            known: Routes::new(),
        }
    }

    /// The config file as it is now. Another domain is another site, whose allow-list a
    /// watch started for it keeps; two watches must not apply the same site at once.
    fn config(&self) -> Result<Config> {
        let config = Config::load(&self.paths.config_file)?;
        if config.domain != self.domain {
            bail!(
                "{} now names domain {}, not {}; restart watch to follow the new site",
                self.paths.config_file.display(),
                config.domain,
                self.domain
            );
        }
        if !sandbox_ports::enabled(&config) {
            bail!(
                "openhands.version in {} is now a 0.x version, which has no sandboxes",
                self.paths.config_file.display()
            );
        }
        Ok(config)
    }

    /// Makes the allow-list equal to `live`, applying only when the set of ports changed.
    pub fn sync_to(
        &mut self,
        live: &Routes,
        why: &HashMap<String, String>,
        default_why: &str,
    ) -> Result<Report> {
        let config = self.config()?;
        let installed = sandbox_ports::installed(&config, self.paths)?;
        let diff = diff(&installed, &self.known, live, why, default_why);
        if diff.is_empty() {
            self.known = live.clone();
            return Ok(Report::InStep {
                total: live.len(),
                why: default_why.to_string(),
            });
        }
        let ports: BTreeSet<u16> = live.keys().copied().collect();
        apply::apply_sandbox_ports(&config, self.paths, &ports)?;
        self.known = live.clone();
        Ok(Report::Applied {
            diff,
            total: ports.len(),
        })
    }

    /// One full sync against the engine.
    pub async fn sync(
        &mut self,
        engine: &Engine,
        why: &HashMap<String, String>,
        default_why: &str,
    ) -> Result<Report> {
        let live = live_routes(engine).await?;
        self.sync_to(&live, why, default_why)
    }

    /// Follows the engine until the process ends; reports through `report`.
    pub async fn follow(&mut self, mut report: impl FnMut(Report)) {
        let mut backoff = BACKOFF_FIRST;
        let mut first = true;
        loop {
            let engine = match Engine::connect().await {
                Ok(engine) => engine,
                Err(e) => {
                    self.on_doubt_remove_all(&e.to_string(), &mut report);
                    report(Report::Trouble {
                        what: e.to_string(),
                        retry: backoff,
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_LAST);
                    continue;
                }
            };
            report(Report::Connected {
                host: engine.host.clone(),
            });
            let why = if first {
                "found at start"
            } else {
                "found after the engine came back"
            };
            first = false;
            let lost = self.events(&engine, why, &mut report).await;
            report(Report::Trouble {
                what: format!("{lost}; reconnecting"),
                retry: BACKOFF_FIRST,
            });
            backoff = BACKOFF_FIRST;
            tokio::time::sleep(BACKOFF_FIRST).await;
        }
    }

    /// Subscribes, syncs in full, then syncs after events until the stream ends; returns
    /// why it ended.
    async fn events(
        &mut self,
        engine: &Engine,
        first_why: &str,
        report: &mut impl FnMut(Report),
    ) -> String {
        // Subscribed before the full sync, so nothing between the two is missed.
        let mut stream = engine.docker.events(Some(container_events()));
        let mut pending: Option<String> = Some(first_why.to_string());
        let mut reasons: HashMap<String, String> = HashMap::new();
        let mut retry = BACKOFF_FIRST;
        // When the pending sync may run, and when the next periodic one is due.
        let mut due = Instant::now();
        let mut resync_at = Instant::now() + RESYNC;
        loop {
            let now = Instant::now();
            if let Some(default_why) = pending.take_if(|_| now >= due) {
                match self.sync(engine, &reasons, &default_why).await {
                    Ok(done) => {
                        report(done);
                        reasons.clear();
                        retry = BACKOFF_FIRST;
                        resync_at = Instant::now() + RESYNC;
                    }
                    Err(e) => {
                        report(Report::Trouble {
                            what: format!("{e:#}"),
                            retry,
                        });
                        pending = Some(default_why);
                        due = Instant::now() + retry;
                        retry = (retry * 2).min(BACKOFF_LAST);
                    }
                }
                continue;
            }
            let until = if pending.is_some() { due } else { resync_at };
            match tokio::time::timeout_at(until, stream.next()).await {
                Err(_) => {
                    if pending.is_none() {
                        pending = Some(PERIODIC.to_string());
                        due = Instant::now();
                    }
                }
                Ok(None) => return "the engine's event stream ended".to_string(),
                Ok(Some(Err(e))) => return format!("the engine's event stream failed: {e}"),
                Ok(Some(Ok(event))) => {
                    let Some((name, why)) = sandbox_event(event) else {
                        continue;
                    };
                    reasons.insert(name, why);
                    // Events within the debounce window share one sync; a sync already
                    // waiting (a retry) keeps its time.
                    if pending.is_none() {
                        pending = Some(AFTER_EVENT.to_string());
                        due = Instant::now() + DEBOUNCE;
                    }
                }
            }
        }
    }

    /// Without the engine nobody can tell whether a routed port still belongs to a
    /// sandbox, so every route goes.
    fn on_doubt_remove_all(&mut self, cause: &str, report: &mut impl FnMut(Report)) {
        let installed = self
            .config()
            .and_then(|config| sandbox_ports::installed(&config, self.paths));
        if installed.as_ref().is_ok_and(BTreeSet::is_empty) {
            return;
        }
        let why = HashMap::new();
        let reason = format!("the engine cannot be reached ({cause})");
        match installed.and_then(|_| self.sync_to(&Routes::new(), &why, &reason)) {
            Ok(done) => report(done),
            Err(e) => report(Report::Trouble {
                what: format!("removing routes while the engine is away: {e:#}"),
                retry: BACKOFF_FIRST,
            }),
        }
    }
}

/// The container events that can change which sandboxes are live.
fn container_events() -> EventsOptions {
    EventsOptions {
        filters: Some(HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                // A paused sandbox's port takes connections that never get an answer, so
                // its route goes while it is paused.
                [
                    "start", "die", "destroy", "stop", "kill", "pause", "unpause",
                ]
                .map(str::to_string)
                .to_vec(),
            ),
        ])),
        ..Default::default()
    }
}

/// A sandbox's name and what happened to it in plain words; `None` for other containers.
fn sandbox_event(event: EventMessage) -> Option<(String, String)> {
    let attributes = event.actor?.attributes?;
    let name = attributes.get("name")?;
    if !name.starts_with(SANDBOX_NAME_PREFIX) {
        return None;
    }
    let action = event.action.unwrap_or_default();
    tracing::debug!("event: {name} {action}");
    Some((name.clone(), describe(&action)))
}

/// An engine action in plain words.
fn describe(action: &str) -> String {
    match action {
        "start" => "started",
        "die" => "stopped",
        "stop" => "stopped",
        "kill" => "killed",
        "destroy" => "removed",
        "pause" => "paused",
        "unpause" => "resumed",
        other => other,
    }
    .to_string()
}
