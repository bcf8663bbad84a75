//! Triggers: every event of the stream is matched against the triggers; a match starts
//! the trigger's target with the event, unless the trigger is cooling down (the cool-down
//! is claimed in the store, so two processes fire once between them).

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
};

use baton_core::schedule::{EventKind, Trigger, TriggerSource, Webhook};
use baton_engine::Engine;
use baton_store::{Store, now_ms};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{
    events::{Event, EventBus, fields},
    files::{FileWatcher, watch},
    launch::launch,
    webhook::{HookError, verify},
};

#[derive(Debug)]
pub struct Triggers {
    store: Store,
    engine: Arc<Engine>,
    bus: Arc<EventBus>,
    separator: String,
    /// Paths file watches ignore (Baton's store folder).
    ignore: Vec<PathBuf>,
    triggers: RwLock<Vec<Arc<Trigger>>>,
    watchers: Mutex<HashMap<String, FileWatcher>>,
}

impl Triggers {
    /// Starts matching events against `triggers` until `shutdown`.
    pub fn start(
        store: Store,
        engine: Arc<Engine>,
        bus: Arc<EventBus>,
        separator: String,
        ignore: Vec<PathBuf>,
        triggers: Vec<Trigger>,
        shutdown: CancellationToken,
    ) -> Arc<Triggers> {
        let this = Arc::new(Triggers {
            store,
            engine,
            bus: bus.clone(),
            separator,
            ignore,
            triggers: RwLock::new(Vec::new()),
            watchers: Mutex::new(HashMap::new()),
        });
        this.set(triggers);
        let mut events = bus.subscribe();
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    event = events.recv() => event,
                };
                let event = match event {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "triggers fell behind the event stream");
                        continue;
                    }
                    Err(_) => return,
                };
                let Some(this) = weak.upgrade() else {
                    return;
                };
                this.on_event(&event).await;
            }
        });
        this
    }

    /// Replaces the triggers (config reload); file watches are restarted for new or
    /// changed `files:` triggers only.
    pub fn set(&self, triggers: Vec<Trigger>) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        let old: HashMap<String, Arc<Trigger>> = self
            .triggers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|trigger| (trigger.name.clone(), trigger.clone()))
            .collect();
        let mut keep = HashMap::new();
        for trigger in &triggers {
            let TriggerSource::Files(files) = &trigger.source else {
                continue;
            };
            if trigger.disabled {
                continue;
            }
            let unchanged = old
                .get(&trigger.name)
                .is_some_and(|previous| previous.spec == trigger.spec);
            if unchanged && let Some(watcher) = watchers.remove(&trigger.name) {
                keep.insert(trigger.name.clone(), watcher);
                continue;
            }
            match watch(&trigger.name, files, self.ignore.clone(), self.bus.clone()) {
                Ok(watcher) => {
                    keep.insert(trigger.name.clone(), watcher);
                }
                Err(error) => tracing::error!(trigger = trigger.name, "{error}"),
            }
        }
        *watchers = keep;
        *self.triggers.write().unwrap_or_else(|p| p.into_inner()) =
            triggers.into_iter().map(Arc::new).collect();
    }

    pub fn list(&self) -> Vec<Arc<Trigger>> {
        self.triggers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The body limit of hook `name`, `None` when there is no such hook.
    pub fn hook_limit(&self, name: &str) -> Option<usize> {
        self.webhook(name).map(|hook| hook.max_body)
    }

    fn webhook(&self, name: &str) -> Option<Webhook> {
        self.list()
            .iter()
            .find_map(|trigger| match &trigger.source {
                TriggerSource::Webhook(hook) if trigger.name == name && !trigger.disabled => {
                    Some(hook.clone())
                }
                _ => None,
            })
    }

    /// A `POST /hooks/<name>`: checked against the hook's secret, then recorded as a
    /// `webhook_received` event (which starts the trigger). Returns the event's payload.
    pub fn receive_webhook(
        &self,
        name: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<(), HookError> {
        let hook = self
            .webhook(name)
            .ok_or_else(|| HookError::NotFound(name.to_owned()))?;
        verify(&hook, header, body)?;
        let payload = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        self.bus.emit(
            EventKind::WebhookReceived,
            fields([("hook", name.into()), ("payload", payload)]),
        );
        Ok(())
    }

    async fn on_event(&self, event: &Event) {
        for trigger in self.list() {
            if trigger.disabled || !trigger.matches(event.kind, &event.data) {
                continue;
            }
            // A trigger's own runs never start it again (a recovery workflow that fails
            // would otherwise feed itself).
            let own = format!("trigger {} ", trigger.name);
            if event
                .data
                .get("origin")
                .and_then(Value::as_str)
                .is_some_and(|origin| origin.starts_with(&own))
            {
                continue;
            }
            let cooldown = trigger.cooldown.as_millis() as i64;
            // The store's clock: workers on several machines agree on the cool-down.
            let now = self.store.clock_ms().await.unwrap_or_else(|_| now_ms());
            match self.store.claim_trigger(&trigger.name, now, cooldown).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(
                        trigger = trigger.name,
                        event = event.id,
                        "trigger cooling down: event ignored"
                    );
                    continue;
                }
                Err(error) => {
                    tracing::warn!(trigger = trigger.name, %error, "could not claim the trigger");
                    continue;
                }
            }
            let origin = format!(
                "trigger {} on {} #{}",
                trigger.name,
                event.kind.as_str(),
                event.id
            );
            match launch(
                &self.engine,
                &trigger.target,
                "trigger",
                &trigger.name,
                &origin,
                &self.separator,
                Some(event.to_json()),
                trigger.spec.priority,
            )
            .await
            {
                Ok(run) => {
                    tracing::info!(
                        trigger = trigger.name,
                        run,
                        event = event.id,
                        "trigger fired"
                    );
                    self.bus.emit(
                        EventKind::TriggerFired,
                        fields([
                            ("trigger", trigger.name.clone().into()),
                            ("event", event.id.into()),
                            ("run", run.into()),
                        ]),
                    );
                }
                Err(error) => tracing::error!(
                    trigger = trigger.name,
                    "could not start {}: {error}",
                    trigger.target.label()
                ),
            }
        }
    }
}
