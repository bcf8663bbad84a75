//! What the gateway tells others: health events for Baton's event bus, and list changes
//! fanned out to every connected downstream client (sessions and `subscriptions/listen`
//! streams).

// The log level (`LoggingLevel`) is deprecated by SEP-2577 but still relayed.
#![allow(deprecated)]

use super::*;

impl Gateway {
    /// Health events; a slow subscriber misses the oldest ones, never blocks Baton.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<GatewayEvent> {
        self.health.subscribe()
    }

    pub(super) fn publish(&self, event: GatewayEvent) {
        let _ = self.health.send(event);
    }

    pub(super) fn publish_start(&self, upstream: &Upstream, ready: bool) {
        let server = upstream.name().to_owned();
        if ready {
            self.publish(GatewayEvent::ServerUp { server });
        } else if let Some(error) = upstream.state().error() {
            self.publish(GatewayEvent::ServerDown {
                server,
                error: error.to_owned(),
            });
        }
    }

    pub(super) async fn handle_event(&self, event: UpstreamEvent) {
        match &event {
            UpstreamEvent::Closed { server } => {
                let error = self
                    .upstream(server)
                    .and_then(|u| u.state().error().map(str::to_owned))
                    .unwrap_or_default();
                self.publish(GatewayEvent::ServerDown {
                    server: server.clone(),
                    error,
                });
            }
            UpstreamEvent::Up { server } => self.publish(GatewayEvent::ServerUp {
                server: server.clone(),
            }),
            UpstreamEvent::Restarting {
                server, attempt, ..
            } => self.publish(GatewayEvent::Restarting {
                server: server.clone(),
                attempt: *attempt,
            }),
            UpstreamEvent::SessionRecovered { server } => {
                self.publish(GatewayEvent::SessionRecovered {
                    server: server.clone(),
                })
            }
            UpstreamEvent::Quarantined { server, crashes } => {
                self.publish(GatewayEvent::Quarantined {
                    server: server.clone(),
                    crashes: *crashes,
                })
            }
            UpstreamEvent::Breaker {
                server,
                tool,
                transition,
            } => {
                let (server, tool) = (server.clone(), tool.clone());
                self.publish(match transition {
                    baton_resilience::Transition::Opened { failures } => {
                        GatewayEvent::BreakerOpened {
                            server,
                            tool,
                            failures: *failures,
                        }
                    }
                    baton_resilience::Transition::HalfOpened => {
                        GatewayEvent::BreakerHalfOpen { server, tool }
                    }
                    baton_resilience::Transition::Closed => {
                        GatewayEvent::BreakerClosed { server, tool }
                    }
                })
            }
            _ => {}
        }
        match event {
            UpstreamEvent::ListChanged { server, list } => {
                let Some(upstream) = self.upstream(&server) else {
                    return;
                };
                if let Some(connection) = upstream.shared_connection().await {
                    upstream.refresh(&connection, list).await;
                }
                self.rebuild_catalog();
                self.broadcast(list).await;
            }
            UpstreamEvent::Closed { .. } => {
                self.rebuild_catalog();
                self.broadcast_all().await;
            }
            UpstreamEvent::Up { .. } => {
                self.rebuild_catalog();
                self.broadcast_all().await;
            }
            UpstreamEvent::SessionRecovered { server } => {
                // The new session knows none of the old one's subscriptions.
                for upstream in self.topology().replicas(&server) {
                    if let Some(connection) = upstream.shared_connection().await {
                        tokio::spawn(resubscribe(server.clone(), connection));
                    }
                }
            }
            UpstreamEvent::Restarting { .. } | UpstreamEvent::Quarantined { .. } => {}
            // Logged where it happens; the schedules/triggers work will subscribe here.
            // A tool's own breaker hides nothing: the server is up.
            UpstreamEvent::Breaker { tool: Some(_), .. } => {}
            UpstreamEvent::Breaker { server, .. } => {
                let hides = self
                    .upstream(&server)
                    .is_some_and(|u| u.config.resilience.degrade == Degrade::Hide);
                if hides {
                    self.rebuild_catalog();
                    self.broadcast_all().await;
                }
            }
            UpstreamEvent::Log { server, message } => {
                let peers: Vec<_> = self
                    .downstreams
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter_map(|entry| match &entry.target {
                        ListTarget::Session(peer) => Some(peer.clone()),
                        ListTarget::Subscription(_) => None,
                    })
                    .collect();
                tracing::debug!(
                    server,
                    clients = peers.len(),
                    "relaying an upstream log message"
                );
                for peer in peers {
                    let _ = peer.notify_logging_message(message.clone()).await;
                }
            }
        }
    }

    /// Registers a downstream client for list-changed notifications; returns its id.
    pub fn register_downstream(&self, target: ListTarget) -> u64 {
        let id = self.next_downstream.fetch_add(1, Ordering::Relaxed);
        self.downstreams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(DownstreamEntry { id, target });
        id
    }

    pub fn unregister_downstream(&self, id: u64) {
        self.downstreams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|entry| entry.id != id);
    }

    pub(super) async fn broadcast_all(&self) {
        for list in [
            ListChanged::Tools,
            ListChanged::Prompts,
            ListChanged::Resources,
        ] {
            self.broadcast(list).await;
        }
    }

    /// How many changes of each list (tools, prompts, resources) were announced so far.
    pub fn list_generations(&self) -> [u64; 3] {
        [0, 1, 2].map(|list| self.list_generations[list].load(Ordering::SeqCst))
    }

    pub(super) async fn broadcast(&self, list: ListChanged) {
        self.list_generations[list as usize].fetch_add(1, Ordering::SeqCst);
        let targets: Vec<_> = {
            let mut downstreams = self.downstreams.lock().unwrap_or_else(|p| p.into_inner());
            downstreams.retain(|entry| match &entry.target {
                ListTarget::Session(peer) => !peer.is_transport_closed(),
                ListTarget::Subscription(_) => true,
            });
            downstreams
                .iter()
                .map(|entry| match &entry.target {
                    ListTarget::Session(peer) => ListTarget::Session(peer.clone()),
                    ListTarget::Subscription(sink) => ListTarget::Subscription(sink.clone()),
                })
                .collect()
        };
        for target in targets {
            let result = match target {
                ListTarget::Session(peer) => match list {
                    ListChanged::Tools => peer.notify_tool_list_changed().await,
                    ListChanged::Prompts => peer.notify_prompt_list_changed().await,
                    ListChanged::Resources => peer.notify_resource_list_changed().await,
                }
                .map_err(|error| error.to_string()),
                ListTarget::Subscription(sink) => {
                    let notification = match list {
                        ListChanged::Tools => {
                            ServerNotification::ToolListChangedNotification(Default::default())
                        }
                        ListChanged::Prompts => {
                            ServerNotification::PromptListChangedNotification(Default::default())
                        }
                        ListChanged::Resources => {
                            ServerNotification::ResourceListChangedNotification(Default::default())
                        }
                    };
                    // A filter that left this list out is not an error.
                    match sink.send(notification).await {
                        Err(rmcp::service::SubscriptionSendError::NotificationNotAccepted(_)) => {
                            Ok(())
                        }
                        other => other.map_err(|error| error.to_string()),
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "could not notify a client of a list change");
            }
        }
    }
}

/// A legacy session the server lost was re-initialized: the resources clients still watch
/// are subscribed again on the new one (queued behind the re-initialization by the
/// session's worker). A 2026-07-28 server has no session to lose.
async fn resubscribe(server: String, connection: Arc<crate::upstream::Connection>) {
    if connection.is_modern() {
        return;
    }
    let uris = connection.relay.subscribed();
    let mut again = 0;
    for uri in &uris {
        let params = rmcp::model::SubscribeRequestParams::new(uri.clone());
        let subscribe = connection.session.peer().subscribe(params);
        match tokio::time::timeout(RESUBSCRIBE_WITHIN, subscribe).await {
            Ok(Ok(())) => again += 1,
            Ok(Err(error)) => {
                tracing::warn!(%server, %uri, %error, "could not subscribe again after the session was recovered; clients will miss its updates")
            }
            Err(_) => {
                tracing::warn!(%server, %uri, "subscribing again after the session was recovered timed out; clients will miss its updates")
            }
        }
    }
    if again > 0 {
        tracing::info!(%server, resources = again, "subscribed again to the resources clients watch, on the recovered session");
    }
}

/// How long subscribing one resource again may take.
const RESUBSCRIBE_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);
