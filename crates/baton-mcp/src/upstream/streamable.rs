//! Streamable HTTP upstreams, through rmcp's client transport.

use std::collections::{BTreeMap, HashMap};

use rmcp::transport::{
    StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
};

pub fn transport(
    client: reqwest::Client,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> StreamableHttpClientTransport<reqwest::Client> {
    let header_map: HashMap<_, _> = super::header_map(headers)
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect();
    // A 404 on a known session id (the server restarted or expired it) re-initializes
    // transparently and retries the request once.
    let config = StreamableHttpClientTransportConfig::with_uri(url)
        .custom_headers(header_map)
        .reinit_on_expired_session(true);
    StreamableHttpClientTransport::with_client(client, config)
}
