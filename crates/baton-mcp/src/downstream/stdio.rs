//! `baton serve` on stdio: the MCP channel is stdin/stdout; logs go to stderr.

use std::sync::Arc;

use rmcp::ServiceExt;

use super::DownstreamSession;
use crate::gateway::Gateway;

/// Serves one client on stdin/stdout until it disconnects.
pub async fn serve(gateway: Arc<Gateway>) -> Result<(), std::io::Error> {
    let service = DownstreamSession::new(gateway)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(())
}
