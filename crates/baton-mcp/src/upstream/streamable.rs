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
    /// The last `WWW-Authenticate` challenge a request was refused with (401, or 403 for a
    /// missing scope): what a step-up sign-in asks for.
    challenge: Arc<std::sync::Mutex<Option<String>>>,
}

/// Where a lost session is reported: the upstream's counter and event channel.
pub struct Recovery {
    pub server: String,
    pub counter: Arc<AtomicU64>,
    pub events: tokio::sync::mpsc::UnboundedSender<super::UpstreamEvent>,
}

/// Baton's client over `client`: a lost session is recognized and counted.
pub fn session_aware(client: reqwest::Client, recovery: Recovery) -> SessionAwareClient {
    SessionAwareClient {
        inner: client,
        server: recovery.server.into(),
        recoveries: recovery.counter,
        events: recovery.events,
        challenge: Arc::default(),
    }
}

impl SessionAwareClient {
    /// Where the last authorization challenge is kept (taken by whoever reads it).
    pub fn challenges(&self) -> Arc<std::sync::Mutex<Option<String>>> {
        self.challenge.clone()
    }
}

/// rmcp's streamable HTTP transport to `url` over `client` (Baton's client, or it
/// wrapped with an OAuth token: [`crate::oauth::authorized`]).
pub fn transport<C: StreamableHttpClient>(
    client: C,
    url: &str,
    headers: &BTreeMap<String, String>,
    max_message_bytes: usize,
) -> StreamableHttpClientTransport<C> {
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
    StreamableHttpClientTransport::with_client(client, config)
}

impl SessionAwareClient {
    fn classify(&self, session: bool, result: PostResult) -> PostResult {
        let challenge = match &result {
            Err(StreamableHttpError::AuthRequired(refused)) => {
                Some(refused.www_authenticate_header.clone())
            }
            Err(StreamableHttpError::InsufficientScope(refused)) => {
                Some(refused.www_authenticate_header.clone())
            }
            _ => None,
        };
        if challenge.is_some() {
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = challenge;
        }
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

impl SessionAwareClient {
    /// An answer over `max_message_bytes` fails its request with an error naming the
    /// server and the setting, and the session goes on; rmcp would close the transport.
    fn answer_oversized(
        &self,
        id: rmcp::model::RequestId,
        max: usize,
        result: PostResult,
    ) -> PostResult {
        let error = || -> ServerJsonRpcMessage {
            let error = crate::error::GatewayError::AnswerTooLarge {
                server: self.server.to_string(),
                max,
            };
            ServerJsonRpcMessage::error(error.into(), Some(id.clone()))
        };
        match result {
            Err(StreamableHttpError::ResponseBodyTooLarge { .. }) => {
                tracing::warn!(server = %self.server, max, "an answer is over max_message_bytes; failing its request");
                Ok(StreamableHttpPostResponse::Json(error(), None))
            }
            Ok(StreamableHttpPostResponse::Sse(stream, session)) => {
                let answer = serde_json::to_string(&error()).ok().map(|data| Sse {
                    data: Some(data),
                    ..Sse::default()
                });
                Ok(StreamableHttpPostResponse::Sse(
                    instead_of_oversized(stream, answer),
                    session,
                ))
            }
            other => other,
        }
    }
}

/// `stream`, with an event over the size limit replaced by `answer` (the request's error),
/// after which the stream ends.
fn instead_of_oversized(
    stream: BoxStream<'static, Result<Sse, SseError>>,
    answer: Option<Sse>,
) -> BoxStream<'static, Result<Sse, SseError>> {
    use futures::StreamExt;
    futures::stream::unfold(
        (stream, answer, false),
        |(mut stream, answer, ended)| async move {
            if ended {
                return None;
            }
            match stream.next().await {
                Some(Err(error)) if is_too_large(&error) => {
                    tracing::warn!("an answer is over max_message_bytes; failing its request");
                    match answer {
                        Some(answer) => Some((Ok(answer), (stream, None, true))),
                        None => Some((Err(error), (stream, None, true))),
                    }
                }
                Some(item) => Some((item, (stream, answer, false))),
                None => None,
            }
        },
    )
    .boxed()
}

/// rmcp's bounded SSE reader says an event was over the limit (its error type is private).
fn is_too_large(error: &SseError) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = source {
        if error.to_string().contains("exceeded the maximum size") {
            return true;
        }
        source = error.source();
    }
    false
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
        let request = match &message {
            rmcp::model::JsonRpcMessage::Request(request) => Some(request.id.clone()),
            _ => None,
        };
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
        let result = match request {
            Some(id) => self.answer_oversized(id, limits.max_json_response_size, result),
            None => result,
        };
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
