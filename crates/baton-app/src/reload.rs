//! Hot reload for `baton serve`: watch the configuration file and the workflows folder,
//! and apply each valid edit to the running gateway ([`Gateway::reload`]: only added and
//! changed servers reconnect; new workflow definitions go to the engine). An edit with
//! errors is rejected: every error is logged, naming the file, and the running
//! configuration stays in force.
//!
//! Editors often save by writing a temporary file and renaming it over the original, so
//! the folder holding the file is watched, not the file; events about other files in it
//! are dropped on the watcher's own thread, so they never wake the runtime. Events are
//! debounced ([`DEBOUNCE`]): one save that produces several events is one reload.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use baton_core::config::{self, Config};
use baton_mcp::{Gateway, ReloadReport};
use notify::{RecursiveMode, Watcher};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// Quiet time after the last file event before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What one reload attempt came to, handed to the callback of [`watch`].
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// The new configuration is in force. `config` is the same `Arc` that
    /// [`Gateway::config`] returns from now on.
    Applied {
        report: ReloadReport,
        config: Arc<Config>,
    },
    /// The edit had errors (already logged); the running configuration stays in force.
    /// `errors`: every error, one per line, with file, line and column.
    Rejected { errors: String },
}

/// Asks the watcher for a reload now (`baton__sync_environment`) and answers what happened.
#[derive(Debug, Clone)]
pub struct Requests(mpsc::UnboundedSender<oneshot::Sender<Value>>);

/// The watcher's end of [`Requests`].
#[derive(Debug)]
pub struct Queue(mpsc::UnboundedReceiver<oneshot::Sender<Value>>);

/// A reload request channel.
pub fn requests() -> (Requests, Queue) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (Requests(sender), Queue(receiver))
}

impl Requests {
    /// Reloads the configuration as a saved edit would; the summary as JSON.
    pub async fn reload(&self) -> Value {
        let (reply, answer) = oneshot::channel();
        if self.0.send(reply).is_err() {
            return json!({"applied": false, "reason": "Baton is shutting down"});
        }
        answer
            .await
            .unwrap_or_else(|_| json!({"applied": false, "reason": "Baton is shutting down"}))
    }
}

/// What set off a reload.
enum Cause {
    /// A saved edit (debounced).
    Edit,
    /// A [`Requests::reload`], answered with the summary.
    Request(oneshot::Sender<Value>),
}

/// Watches the configuration file `path` and its workflows folder for as long as `gateway`
/// lives, applying each valid edit to it, and answers `requests` the same way. After every
/// attempt, applied or rejected, `on_applied` is called once with the outcome: on the
/// watcher's task, after the gateway has finished applying, one call at a time (reloads
/// never overlap). It should return quickly; spawn a task for anything slow.
///
/// Returns at once. When the platform cannot watch files, a warning is logged and edits
/// apply only after a restart (requests still do).
pub fn watch(
    path: PathBuf,
    gateway: Arc<Gateway>,
    mut requests: Option<Queue>,
    on_applied: impl Fn(ReloadOutcome) + Send + 'static,
) {
    // Loaded as given (as at start: relative paths in it resolve the same way); matched
    // against file events as an absolute path.
    let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let (sender, mut events) = mpsc::unbounded_channel();
    let mut watched = Watched::default();
    let interest = watched.interest.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if interest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .concerns(&event)
        {
            let _ = sender.send(event);
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(%error, "cannot watch the configuration for changes: edits apply only after a restart");
            None
        }
    };
    if let Some(watcher) = watcher.as_mut() {
        watched.update(watcher, &absolute, &gateway.config());
    }
    let gateway = Arc::downgrade(&gateway);
    tokio::spawn(async move {
        loop {
            let cause = tokio::select! {
                edit = next_edit(&mut events, watcher.is_some()) => match edit {
                    true => Cause::Edit,
                    false => return,
                },
                request = next_request(&mut requests) => match request {
                    Some(reply) => Cause::Request(reply),
                    None => {
                        requests = None;
                        continue;
                    }
                },
            };
            let Some(gateway) = Weak::upgrade(&gateway) else {
                return;
            };
            // A workflows folder created since: watch it before reading it.
            if let Some(watcher) = watcher.as_mut() {
                watched.update(watcher, &absolute, &gateway.config());
            }
            let outcome = apply(&path, &gateway).await;
            if let (ReloadOutcome::Applied { config, .. }, Some(watcher)) =
                (&outcome, watcher.as_mut())
            {
                watched.update(watcher, &absolute, config);
            }
            if let Cause::Request(reply) = cause {
                let _ = reply.send(outcome.summary());
            }
            on_applied(outcome);
        }
    });
}

/// Waits for an edit that concerns the configuration (the only events the watcher passes
/// on, [`Interest`]), then for quiet ([`DEBOUNCE`]); `false` when the watcher is gone.
async fn next_edit(
    events: &mut mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    watching: bool,
) -> bool {
    if !watching {
        return std::future::pending().await;
    }
    if events.recv().await.is_none() {
        return false;
    }
    let mut deadline = tokio::time::Instant::now() + DEBOUNCE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(_)) => deadline = tokio::time::Instant::now() + DEBOUNCE,
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

async fn next_request(requests: &mut Option<Queue>) -> Option<oneshot::Sender<Value>> {
    match requests {
        Some(queue) => queue.0.recv().await,
        None => std::future::pending().await,
    }
}

impl ReloadOutcome {
    /// The outcome as `sync_environment` reports it.
    pub fn summary(&self) -> Value {
        match self {
            ReloadOutcome::Applied { report, .. } => json!({"applied": true, "report": report}),
            ReloadOutcome::Rejected { errors } => json!({"applied": false, "errors": errors}),
        }
    }
}

/// Loads the configuration (as `baton serve` does at start) and applies it.
pub async fn apply(path: &Path, gateway: &Arc<Gateway>) -> ReloadOutcome {
    let file = path.to_owned();
    let loaded =
        tokio::task::spawn_blocking(move || config::load(&file, &config::process_env)).await;
    let config = match loaded {
        Ok(Ok(config)) => config,
        Ok(Err(errors)) => {
            let errors = errors.to_string().trim_end().to_owned();
            tracing::error!(
                "{} was edited but not applied; the running configuration stays in force. {errors}",
                path.display()
            );
            return ReloadOutcome::Rejected { errors };
        }
        Err(error) => {
            let errors = format!("reading the configuration failed: {error}");
            tracing::error!("{}: {errors}", path.display());
            return ReloadOutcome::Rejected { errors };
        }
    };
    let report = gateway.reload(config).await;
    ReloadOutcome::Applied {
        report,
        config: gateway.config(),
    }
}

/// The folders being watched: the configuration file's, and the workflows folder.
#[derive(Default)]
struct Watched {
    config_dir: Option<PathBuf>,
    workflows: Option<PathBuf>,
    /// What the watcher's own thread passes on (shared with its callback).
    interest: Arc<RwLock<Interest>>,
}

/// The paths whose events may change the configuration. The watcher's callback checks each
/// event against them on the watcher's own thread, so that changes to other files in the
/// watched folders (a log written next to `baton.yaml`) never wake the runtime.
#[derive(Default)]
struct Interest {
    file: PathBuf,
    /// The workflows folder as configured (it may not exist yet).
    workflows_dir: PathBuf,
}

impl Watched {
    /// Watches the folders `config` needs that are not watched yet (a workflows folder
    /// that now exists, or another one after an edit).
    fn update(&mut self, watcher: &mut impl Watcher, file: &Path, config: &Config) {
        let dir = std::path::absolute(&config.workflows.dir)
            .unwrap_or_else(|_| config.workflows.dir.clone());
        // Never held across a watcher call: the callback takes it on the watcher's thread.
        *self.interest.write().unwrap_or_else(|p| p.into_inner()) = Interest {
            file: file.to_owned(),
            workflows_dir: dir.clone(),
        };
        let parent = file
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        if self.config_dir.as_ref() != Some(&parent) {
            match watcher.watch(&parent, RecursiveMode::NonRecursive) {
                Ok(()) => self.config_dir = Some(parent),
                Err(error) => {
                    tracing::warn!(%error, folder = %parent.display(), "cannot watch the configuration's folder: edits apply only after a restart")
                }
            }
        }
        if self.workflows.as_ref() == Some(&dir) {
            return;
        }
        if let Some(old) = self.workflows.take() {
            let _ = watcher.unwatch(&old);
        }
        if dir.is_dir() && self.config_dir.as_ref() != Some(&dir) {
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.workflows = Some(dir),
                Err(error) => {
                    tracing::warn!(%error, folder = %dir.display(), "cannot watch the workflows folder: its edits apply only after a restart")
                }
            }
        }
    }
}

impl Interest {
    /// Whether `event` may change the configuration: the file itself, the workflows
    /// folder, or a workflow file in it.
    fn concerns(&self, event: &notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::debug!(%error, "file watcher error");
                return false;
            }
        };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return false;
        }
        event.paths.iter().any(|path| {
            path == &self.file
                || path == &self.workflows_dir
                || (path.parent() == Some(self.workflows_dir.as_path())
                    && path
                        .extension()
                        .is_some_and(|ext| ext == "yaml" || ext == "yml"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::{
        Event, EventKind,
        event::{AccessKind, CreateKind, ModifyKind},
    };

    fn event(kind: EventKind, path: &str) -> notify::Result<Event> {
        Ok(Event::new(kind).add_path(PathBuf::from(path)))
    }

    /// Only events that may change the configuration are passed on by the watcher's thread:
    /// the file, the workflows folder and the workflow files in it, never a mere read.
    #[test]
    fn only_the_configuration_and_its_workflows_concern_a_reload() {
        let interest = Interest {
            file: PathBuf::from("/p/baton.yaml"),
            workflows_dir: PathBuf::from("/p/workflows"),
        };
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(interest.concerns(&event(modify, "/p/baton.yaml")));
        assert!(interest.concerns(&event(
            EventKind::Create(CreateKind::Folder),
            "/p/workflows"
        )));
        assert!(interest.concerns(&event(modify, "/p/workflows/deploy.yaml")));
        assert!(interest.concerns(&event(modify, "/p/workflows/deploy.yml")));
        assert!(!interest.concerns(&event(modify, "/p/baton.log")));
        assert!(!interest.concerns(&event(modify, "/p/workflows/notes.txt")));
        assert!(!interest.concerns(&event(EventKind::Access(AccessKind::Any), "/p/baton.yaml")));
        assert!(!interest.concerns(&Err(notify::Error::generic("gone"))));
    }
}
