//! Streamable HTTP upstreams, through rmcp's client transport, with Baton's client: it
//! recognizes the ways real servers say "I do not know this session" (after a restart or
//! a redeploy) so that rmcp re-initializes and sends the request again once.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{
            StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
            StreamableHttpPostResponse, StreamableHttpResponseLimits,
        },
    },
};
use sse_stream::{Error as SseError, Sse};

type PostResult = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;

/// A reqwest client that turns a lost session into rmcp's `SessionExpired`: besides the
/// specification's 404, a 410, and a 400/401 whose answer names the session (the
/// TypeScript SDK answers 400 "No valid session ID provided"). Each one is counted.
#[derive(Clone)]
pub struct SessionAwareClient {
    inner: reqwest::Client,
    server: Arc<str>,
    recoveries: Arc<AtomicU64>,
    events: tokio::sync::mpsc::UnboundedSender<super::UpstreamEvent>,
}

/// Where a lost session is reported: the upstream's counter and event channel.
pub struct Recovery {
    pub server: String,
    pub counter: Arc<AtomicU64>,
    pub events: tokio::sync::mpsc::UnboundedSender<super::UpstreamEvent>,
}

pub fn transport(
    client: reqwest::Client,
    url: &str,
    headers: &BTreeMap<String, String>,
    max_message_bytes: usize,
    recovery: Recovery,
) -> StreamableHttpClientTransport<SessionAwareClient> {
    let header_map: HashMap<_, _> = super::header_map(headers)
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect();
    // A lost session (see above) re-initializes transparently and retries the request once.
    let config = StreamableHttpClientTransportConfig::with_uri(url)
        .custom_headers(header_map)
        .reinit_on_expired_session(true)
        .max_json_response_size(max_message_bytes)
        .max_sse_event_size(max_message_bytes);
    let client = SessionAwareClient {
        inner: client,
        server: recovery.server.into(),
        recoveries: recovery.counter,
        events: recovery.events,
    };
    StreamableHttpClientTransport::with_client(client, config)
}

impl SessionAwareClient {
    fn classify(&self, session: bool, result: PostResult) -> PostResult {
        if !session {
            return result;
        }
        let lost = match &result {
            Err(StreamableHttpError::SessionExpired) => true,
            Err(StreamableHttpError::UnexpectedServerResponse(text)) => lost_session_status(text),
            // An error the server could not tie to the request (no id): the session is
            // what it could not find.
            Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(error), _)) => {
                error.id.is_none() && names_session(&error.error.message)
            }
            _ => false,
        };
        if !lost {
            return result;
        }
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(super::UpstreamEvent::SessionRecovered {
            server: self.server.to_string(),
        });
        tracing::warn!(server = %self.server, "the server no longer knows Baton's session; re-initializing and sending again");
        Err(StreamableHttpError::SessionExpired)
    }
}

fn names_session(text: &str) -> bool {
    text.to_ascii_lowercase().contains("session")
}

/// rmcp reports other statuses as `HTTP <status>: <body>`.
fn lost_session_status(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("HTTP ") else {
        return false;
    };
    let status: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match status.as_str() {
        "404" | "410" => true,
        "400" | "401" => names_session(rest),
        _ => false,
    }
}

/// rmcp's worker sends with `post_message_with_response_limits` and listens with
/// `get_stream_with_max_sse_event_size`; the plain methods are the trait's required ones.
impl StreamableHttpClient for SessionAwareClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> PostResult {
        let session = session_id.is_some();
        let result = self
            .inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        self.classify(session, result)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> PostResult {
        let session = session_id.is_some();
        let result = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        self.classify(session, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_sessions_are_told_from_other_refusals() {
        assert!(lost_session_status("HTTP 404 Not Found: "));
        assert!(lost_session_status("HTTP 410 Gone: bye"));
        assert!(lost_session_status(
            "HTTP 400 Bad Request: Bad Request: No valid session ID provided"
        ));
        assert!(lost_session_status(
            "HTTP 401 Unauthorized: unknown session"
        ));
        assert!(!lost_session_status("HTTP 400 Bad Request: invalid params"));
        assert!(!lost_session_status("HTTP 401 Unauthorized: bad token"));
        assert!(!lost_session_status(
            "HTTP 500 Internal Server Error: session"
        ));
        assert!(!lost_session_status("connection refused"));
    }
}
