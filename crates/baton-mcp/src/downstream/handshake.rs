//! Sessions that never finish their handshake: a streamable HTTP client that sends
//! `initialize` but never `notifications/initialized` holds a session (and its place under
//! the caps) for nothing. Such a session is closed after `serve.sessions.init_timeout`
//! (default 30 s), well before the idle timeout.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use rmcp::transport::streamable_http_server::session::{
    SessionManager, local::LocalSessionManager,
};

/// Sessions opened and not yet initialized.
pub struct Handshakes {
    manager: Arc<LocalSessionManager>,
    within: Duration,
    /// Sessions opened whose `notifications/initialized` has not arrived yet.
    pending: Mutex<HashSet<String>>,
}

impl Handshakes {
    pub fn new(manager: Arc<LocalSessionManager>, within: Duration) -> Arc<Handshakes> {
        Arc::new(Handshakes {
            manager,
            within,
            pending: Mutex::new(HashSet::new()),
        })
    }

    /// Session `id` was just created: closed after the timeout unless it initializes.
    pub fn opened(self: &Arc<Self>, id: String) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone());
        let handshakes = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(handshakes.within).await;
            let unfinished = handshakes
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            if unfinished {
                tracing::info!(session = %id, "closing a session that never sent notifications/initialized");
                let id: rmcp::transport::common::server_side_http::SessionId = id.into();
                let _ = handshakes.manager.close_session(&id).await;
            }
        });
    }

    /// Session `id` sent `notifications/initialized`.
    pub fn initialized(&self, id: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}
