//! The legacy HTTP+SSE client transport (protocol 2024-11-05), which rmcp does not ship:
//! `GET <url>` opens an event stream whose first `endpoint` event names the URL to POST
//! JSON-RPC messages to; every server message then arrives as a `message` event.

use std::{collections::BTreeMap, time::Duration};

use futures::StreamExt;
use reqwest::{Url, header::HeaderMap};
use rmcp::{
    RoleClient,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use sse_stream::SseStream;
use tokio::{sync::mpsc, task::JoinHandle};

/// How long the server may take to announce its POST endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SseTransportError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status} to the event-stream GET")]
    Status { url: String, status: u16 },
    #[error(
        "{url} did not send an `endpoint` event within {0:?}",
        ENDPOINT_TIMEOUT
    )]
    NoEndpoint { url: String },
    #[error("{url} sent an invalid endpoint \"{endpoint}\"")]
    BadEndpoint { url: String, endpoint: String },
    #[error("POST to {url} failed: {source}")]
    Post { url: String, source: reqwest::Error },
    #[error("POST to {url} answered HTTP {status}: {body}")]
    PostStatus {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot encode a message: {0}")]
    Encode(#[from] serde_json::Error),
}

pub struct SseClientTransport {
    client: reqwest::Client,
    post_url: Url,
    headers: HeaderMap,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: JoinHandle<()>,
}

impl SseClientTransport {
    /// Opens the event stream and waits for the server's `endpoint` event.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: &BTreeMap<String, String>,
        server: &str,
        max_message_bytes: usize,
    ) -> Result<Self, SseTransportError> {
        let headers = super::header_map(headers);
        let response = client
            .get(url)
            .headers(headers.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|source| SseTransportError::Connect {
                url: url.to_owned(),
                source,
            })?;
        if !response.status().is_success() {
            return Err(SseTransportError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let base = response.url().clone();
        let mut events = SseStream::from_bytes_stream(response.bytes_stream());
        let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
            while let Some(Ok(event)) = events.next().await {
                if event.event.as_deref() == Some("endpoint") {
                    return event.data;
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| SseTransportError::NoEndpoint {
            url: url.to_owned(),
        })?;
        let post_url = base
            .join(endpoint.trim())
            .map_err(|_| SseTransportError::BadEndpoint {
                url: url.to_owned(),
                endpoint: endpoint.clone(),
            })?;

        let (sender, incoming) = mpsc::channel(64);
        let server = server.to_owned();
        let reader = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::warn!(server, %error, "SSE stream broke");
                        break;
                    }
                };
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let Some(data) = event.data else { continue };
                if data.len() > max_message_bytes {
                    let peer = format!("server \"{server}\"");
                    let answer = crate::lines::answer_for_oversized::<RoleClient>(
                        data.as_bytes(),
                        max_message_bytes,
                        &peer,
                    );
                    if let Some(answer) = answer
                        && sender.send(answer).await.is_err()
                    {
                        break;
                    }
                    continue;
                }
                match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data) {
                    Ok(message) => {
                        if sender.send(message).await.is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(server, %error, "ignoring an SSE message that is not JSON-RPC")
                    }
                }
            }
        });
        Ok(SseClientTransport {
            client,
            post_url,
            headers,
            incoming,
            reader,
        })
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseTransportError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let client = self.client.clone();
        let url = self.post_url.clone();
        let headers = self.headers.clone();
        async move {
            let body = serde_json::to_vec(&item)?;
            let response = client
                .post(url.clone())
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|source| SseTransportError::Post {
                    url: url.to_string(),
                    source,
                })?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(SseTransportError::PostStatus {
                    url: url.to_string(),
                    status: status.as_u16(),
                    body: body.chars().take(200).collect(),
                });
            }
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.incoming.recv()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reader.abort();
        self.incoming.close();
        std::future::ready(Ok(()))
    }
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
