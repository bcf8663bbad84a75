//! `baton serve --http ADDR`: streamable HTTP at `/mcp` (legacy sessions and stateless
//! 2026-07-28 on the same endpoint, by rmcp) and the legacy SSE transport at `/sse` +
//! `/message` (ours, [`super::sse`]). Every route checks `Host` and `Origin` (DNS-rebinding
//! protection) and limits request bodies.

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::Response,
};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::{DownstreamSession, MCP_SESSION_ID, sse};
use crate::{
    error::{INVALID_REQUEST, PARSE_ERROR, http_error},
    gateway::Gateway,
};

const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

/// Who may talk to the HTTP endpoints.
#[derive(Debug, Clone)]
pub struct HttpAccess {
    /// Extra accepted `Host` names besides loopback.
    pub allowed_hosts: Vec<String>,
    /// Extra accepted browser origins besides loopback ones.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
}

impl HttpAccess {
    pub fn from_config(gateway: &Gateway) -> Self {
        // Read once, when serving starts: not changed by a reload.
        let config = gateway.config();
        let serve = &config.serve;
        HttpAccess {
            allowed_hosts: serve.allowed_hosts.clone(),
            allowed_origins: serve.allowed_origins.clone(),
            max_body_bytes: serve.max_body_bytes,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        LOOPBACK_HOSTS.contains(&name)
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed == host || allowed == name)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed_origins.iter().any(|allowed| allowed == origin) {
            return true;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        LOOPBACK_HOSTS.contains(&strip_port(rest))
    }
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Routes the application adds next to `/mcp` and `/sse`.
#[derive(Default)]
pub struct ExtraRoutes {
    /// Behind the Host/Origin guard and `serve.auth`, like the MCP endpoints (`/metrics`).
    pub inside: Router,
    /// Behind the Host/Origin guard but open to anyone who reaches it: pages that hold no
    /// data and ask the API for it (the dashboard's shell and assets).
    pub public: Router,
    /// Outside the guard (webhooks, which prove themselves with a secret).
    pub outside_guard: Router,
}

/// The sessions counter and caps for `gateway`'s configuration (read once, at start).
pub fn sessions_for(gateway: &Gateway) -> Arc<super::sessions::Sessions> {
    let config = gateway.config();
    super::sessions::Sessions::new(
        config.serve.max_sessions,
        config
            .serve
            .auth
            .as_ref()
            .and_then(|a| a.sessions_per_principal),
        config.serve.sessions_per_client,
    )
}

/// rmcp's streamable HTTP service over Baton's session manager ([`super::parking::Parking`],
/// whose sweep is started here), and that manager.
fn streamable_service(
    gateway: &Arc<Gateway>,
    access: &HttpAccess,
    shutdown: &CancellationToken,
) -> (
    StreamableHttpService<DownstreamSession, super::parking::Parking>,
    Arc<super::parking::Parking>,
) {
    // Host and Origin are checked once, for every route, by `guard` (in `Front` and the
    // router); rmcp's own copy of the check is turned off (axum clones the service, lists
    // and all, per request).
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_max_request_body_bytes(access.max_body_bytes)
        .disable_allowed_hosts()
        .disable_allowed_origins();

    let factory_gateway = gateway.clone();
    // An idle session is closed after `serve.sessions.idle_timeout`; its next request gets
    // 404 and the client initializes again. Before that, an idle session that holds no
    // state is parked (its worker and service closed) and brought back by its next request.
    // A session whose client never finishes the handshake is closed sooner.
    let manager = super::parking::Parking::new(
        gateway.clone(),
        gateway.config().serve.session_idle_timeout,
        gateway.config().serve.session_init_timeout,
    );
    config.session_store = Some(manager.clone());
    tokio::spawn(manager.clone().run(shutdown.clone()));
    let factory_manager = manager.clone();
    let streamable = StreamableHttpService::new(
        move || {
            Ok(DownstreamSession::for_http(
                factory_gateway.clone(),
                &factory_manager,
            ))
        },
        manager.clone(),
        config,
    );
    (streamable, manager)
}

/// The whole HTTP application: its routes, with `POST /mcp` taken straight to its handler
/// ([`Front`]).
pub fn application(
    gateway: Arc<Gateway>,
    access: HttpAccess,
    shutdown: CancellationToken,
    sessions: Arc<super::sessions::Sessions>,
    extra: ExtraRoutes,
) -> Front {
    let (streamable, manager) = streamable_service(&gateway, &access, &shutdown);
    let auth = gateway
        .config()
        .serve
        .auth
        .as_ref()
        .map(super::auth::Authenticator::new);
    let access = Arc::new(access);
    let guard_access = access.clone();
    // One handler over shared state: axum clones a route's service for every request, and
    // a stack of middleware layers over rmcp's service was a deep clone each time.
    let endpoint = Arc::new(Endpoint {
        streamable,
        limits: Limits {
            body: access.max_body_bytes,
            auth: auth.clone(),
            sessions: sessions.clone(),
            gateway: gateway.clone(),
            stateless: super::stateless::Stateless::new(gateway.clone(), manager.clone()),
            parking: manager,
            shutdown: shutdown.clone(),
        },
    });
    // `/mcp` and anything under it, as plain routes: a nested router would strip the prefix
    // and clone its services on every request.
    let mcp = axum::routing::any(mcp_endpoint).with_state(endpoint.clone());
    let mut app = Router::new()
        .route("/mcp", mcp.clone())
        .route("/mcp/{*rest}", mcp)
        .merge(sse::router(gateway, shutdown, sessions, auth.clone()))
        .merge(extra.inside);
    if let Some(auth) = auth.clone() {
        let check = auth.clone();
        app = app
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                super::auth::require(check.clone(), request, next)
            }))
            .merge(super::auth::metadata_routes(auth.clone()))
            .merge(super::auth::session_routes(auth));
    } else {
        app = app.route(
            "/api/session",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({ "auth": false, "principal": null }))
            }),
        );
    }
    let app = app
        .merge(extra.public)
        .layer(DefaultBodyLimit::max(access.max_body_bytes));
    let router = guarded(app, guard_access.clone())
        // Routes the application adds (webhooks) come from other machines under other host
        // names and prove themselves (a secret), so the Host/Origin guard (against DNS
        // rebinding of the MCP endpoints) does not apply to them; each has its own limits.
        .merge(extra.outside_guard);
    Front(Arc::new(FrontParts {
        router,
        endpoint,
        access: guard_access,
        auth,
    }))
}

/// The HTTP application as one service: `POST /mcp` — every request a client sends —
/// goes straight to its handler through the same checks in the same order as the router's
/// layers (the Host/Origin guard, authentication when configured, the handler, the
/// response counted); anything else goes to the router. axum's router clones each route's
/// boxed stack of layers and boxes a future per layer on every request (BENCHMARKS.md, "The
/// router bypassed for `POST /mcp`"). A layer added to the router for `/mcp` must be added
/// to `FrontParts::post_mcp` too.
#[derive(Clone)]
pub struct Front(Arc<FrontParts>);

struct FrontParts {
    router: Router,
    endpoint: Arc<Endpoint>,
    access: Arc<HttpAccess>,
    auth: Option<Arc<super::auth::Authenticator>>,
}

impl FrontParts {
    /// `POST /mcp`, as the router would serve it.
    async fn post_mcp(self: Arc<Self>, mut request: Request) -> Response {
        if let Some(refused) = guard(&self.access, request.headers()) {
            return refused;
        }
        // Boxed: its future would otherwise enlarge every request's, with or without auth.
        if let Some(auth) = &self.auth
            && let Err(refused) = Box::pin(super::auth::admit(auth.clone(), &mut request)).await
        {
            return count_response(refused);
        }
        count_response(check_json_body(request, &self.endpoint).await)
    }
}

impl tower_service::Service<Request> for Front {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let parts = self.0.clone();
        if request.method() == axum::http::Method::POST && request.uri().path() == "/mcp" {
            Box::pin(crate::future::then(parts.post_mcp(request), Ok))
        } else {
            let mut router = parts.router.clone();
            Box::pin(async move { tower_service::Service::call(&mut router, request).await })
        }
    }
}

/// `app` behind the Host/Origin guard, its responses counted: one layer, since each
/// `from_fn` layer costs a boxed future and a service clone per request.
fn guarded(app: Router, access: Arc<HttpAccess>) -> Router {
    app.layer(middleware::from_fn(move |request: Request, next: Next| {
        let access = access.clone();
        async move {
            match guard(&access, request.headers()) {
                Some(refused) => refused,
                None => count_response(next.run(request).await),
            }
        }
    }))
}

/// DNS-rebinding protection: a bad `Host` or a foreign `Origin` is refused before routing.
fn guard(access: &HttpAccess, headers: &HeaderMap) -> Option<Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if let Some(host) = host
        && !access.host_allowed(host)
    {
        return Some(forbidden(format!(
            "Host \"{host}\" is not allowed (DNS-rebinding protection); add it to serve.allowed_hosts to accept it"
        )));
    }
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        && !access.origin_allowed(origin)
    {
        return Some(forbidden(format!(
            "Origin \"{origin}\" is not allowed; add it to serve.allowed_origins to accept it"
        )));
    }
    None
}

fn forbidden(message: String) -> Response {
    http_error(StatusCode::FORBIDDEN, INVALID_REQUEST, message)
}

/// `/mcp`: rmcp's streamable HTTP service, with Baton's checks and limits before it.
struct Endpoint {
    streamable: StreamableHttpService<DownstreamSession, super::parking::Parking>,
    limits: Limits,
}

impl Endpoint {
    /// rmcp's answer to `request`.
    async fn rmcp(&self, request: Request) -> Response {
        self.streamable
            .handle(request)
            .await
            .map(axum::body::Body::new)
    }
}

async fn mcp_endpoint(
    axum::extract::State(endpoint): axum::extract::State<Arc<Endpoint>>,
    request: Request,
) -> Response {
    match *request.method() {
        // Boxed: axum's layers move the handler's future several times per request, and
        // inline these futures (rmcp's, a direct call's) would make it several kilobytes.
        axum::http::Method::POST => Box::pin(check_json_body(request, &endpoint)).await,
        axum::http::Method::DELETE => session_deleted_ok(Box::pin(endpoint.rmcp(request)).await),
        _ => Box::pin(endpoint.rmcp(request)).await,
    }
}

/// A POST (a client's request) counts as in flight until its answer has been sent, so a
/// shutdown lets it finish ([`Gateway::drain`]).
async fn count_until_answered(endpoint: &Endpoint, request: Request) -> Response {
    let guard = endpoint.limits.gateway.request_started();
    let (parts, body) = Box::pin(endpoint.rmcp(request)).await.into_parts();
    let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _answering = &guard;
        chunk
    });
    Response::from_parts(parts, axum::body::Body::from_stream(stream))
}

/// Counts the MCP endpoints' responses by status (`baton_http_responses_total`); those the
/// guard refused are not counted.
fn count_response(response: Response) -> Response {
    crate::metrics::http_response(response.status().as_u16());
    response
}

/// A session ended by `DELETE /mcp` is answered 200 rather than rmcp's 202: the official
/// Python SDK takes anything but 200/204 (or 405) as a failed termination and warns.
fn session_deleted_ok(mut response: Response) -> Response {
    if response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// What [`check_json_body`] holds requests to.
struct Limits {
    /// The session manager, which keeps each session's place under the caps.
    parking: Arc<super::parking::Parking>,
    body: usize,
    auth: Option<Arc<super::auth::Authenticator>>,
    sessions: Arc<super::sessions::Sessions>,
    /// For the audit records of refused calls.
    gateway: Arc<Gateway>,
    /// Ends the sessions' streams (direct calls' answers too).
    shutdown: CancellationToken,
    /// The direct path of stateless 2026-07-28 calls.
    stateless: super::stateless::Stateless,
}

/// A POST whose body is not JSON gets a JSON-RPC parse error (-32700, HTTP 400) and an
/// oversized one HTTP 413, before rmcp sees either. Then the limits: the caller's call
/// budget, and the session caps for an `initialize` that opens a session.
async fn check_json_body(request: Request, endpoint: &Endpoint) -> Response {
    let Limits {
        body: limit,
        auth,
        sessions,
        gateway,
        parking,
        shutdown,
        stateless,
    } = &endpoint.limits;
    let limit = *limit;
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                format!("request body is larger than {limit} bytes (serve.max_body_bytes)"),
            );
        }
    };
    // A tools/call is decoded here once, for the direct paths: that also proves the body
    // is JSON. Else one parse reads the method and checks the whole body is JSON; a batch (not
    // an object) is checked on its own.
    let mut decoded = super::direct::decode_call(&bytes);
    let method = match decoded {
        Some(_) => Some(std::borrow::Cow::Borrowed("tools/call")),
        None => match serde_json::from_slice::<Method>(&bytes) {
            Ok(message) => message.method,
            Err(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Ok(_) => None,
                Err(error) => {
                    return http_error(
                        StatusCode::BAD_REQUEST,
                        PARSE_ERROR,
                        format!("Parse error: the request body is not valid JSON ({error})"),
                    );
                }
            },
        },
    };
    let principal = parts.extensions.get::<super::auth::Principal>();
    if let (Some(auth), Some(principal)) = (auth, principal)
        && let Some(refused) = over_budget(auth, &principal.name, &bytes, gateway)
    {
        return refused;
    }
    crate::metrics::request(method.as_deref().unwrap_or("other"), "streamable_http");
    // An `initialize` without a session opens one: it takes a place under the caps first,
    // which the session keeps once it exists (dropped here if none was created).
    let mut slot = None;
    if method.as_deref() == Some("initialize") && !parts.headers.contains_key(MCP_SESSION_ID) {
        let who = principal.map(|p| p.name.as_str());
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        match sessions.admit(who, address, super::sessions::Transport::StreamableHttp) {
            Ok(admitted) => slot = Some(admitted),
            Err(refused) => return too_many_sessions(who, refused),
        }
    }
    // A 2025-11-25 task request rmcp cannot parse is renamed for the handler.
    let (parts, bytes) = match parking.legacy_tasks().inbound(&bytes) {
        Some(renamed) => (parts, bytes::Bytes::from(renamed)),
        // A plain tools/call on a live session is served beside rmcp (`super::direct`).
        None if slot.is_none() => {
            let mut parts = Some(parts);
            if let Some(answer) = parking.direct_call(&mut parts, &mut decoded, shutdown, gateway) {
                return answer.await;
            }
            // A plain stateless 2026-07-28 call is served beside rmcp too (`super::stateless`).
            if let Some(answer) = stateless.call(&mut parts, &mut decoded) {
                return answer.await;
            }
            match parts {
                Some(parts) => (parts, bytes),
                None => {
                    return axum::response::IntoResponse::into_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                    );
                }
            }
        }
        None => (parts, bytes),
    };
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let response = count_until_answered(endpoint, request).await;
    if let Some(slot) = slot
        && let Some(id) = response
            .headers()
            .get(MCP_SESSION_ID)
            .and_then(|id| id.to_str().ok())
    {
        parking.adopt(id, slot);
    }
    response
}

/// The method of a single JSON-RPC message (`None` for a response or a batch).
pub(super) fn method_of(body: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    serde_json::from_slice::<Method>(body).ok()?.method
}

/// A JSON-RPC message's method (the rest skipped, but checked to be JSON).
#[derive(serde::Deserialize)]
struct Method<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
}

/// A session over a cap: HTTP 429 naming the limit (sessions free up as others close or
/// expire, so the client is told to come back in a minute).
pub(super) fn too_many_sessions(
    principal: Option<&str>,
    refused: super::sessions::Refused,
) -> Response {
    tracing::warn!(
        principal = principal.unwrap_or("-"),
        "a new session over a session cap was refused"
    );
    crate::metrics::session_refused(if refused.0.contains("serve.sessions.max") {
        "global"
    } else {
        "principal"
    });
    let mut response = http_error(StatusCode::TOO_MANY_REQUESTS, INVALID_REQUEST, refused.0);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("60"),
    );
    response
}

/// `serve.auth.limits.calls_per_minute`: a tool call over the caller's budget gets HTTP 429
/// with `Retry-After`, never reaches a server, and is audited as `rate_limited`.
pub(super) fn over_budget(
    auth: &super::auth::Authenticator,
    principal: &str,
    body: &[u8],
    gateway: &Gateway,
) -> Option<Response> {
    let is_call = |message: &serde_json::Value| message["method"] == "tools/call";
    let calls: Vec<serde_json::Value> = match serde_json::from_slice(body).ok()? {
        serde_json::Value::Array(batch) => batch.into_iter().filter(is_call).collect(),
        message if is_call(&message) => vec![message],
        _ => return None,
    };
    for _ in 0..calls.len() {
        if let Err(wait) = auth.admit_call(principal) {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            tracing::warn!(
                principal,
                retry_after_s = seconds,
                "a tool call over serve.auth.limits.calls_per_minute was refused"
            );
            crate::metrics::auth_refused("rate_limited");
            if let Some(sink) = gateway.audit() {
                for call in &calls {
                    let params = &call["params"];
                    let start = crate::audit::AuditStart::new(
                        Some(principal),
                        crate::audit::AuditKind::Tool,
                        params["name"].as_str().unwrap_or_default(),
                        params["arguments"].as_object(),
                    );
                    sink.record(start.finish("rate_limited"));
                }
            }
            let mut response = http_error(
                StatusCode::TOO_MANY_REQUESTS,
                INVALID_REQUEST,
                format!(
                    "{principal} is over its tool-call budget (serve.auth.limits.calls_per_minute): retry in {seconds} s"
                ),
            );
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            return Some(response);
        }
    }
    None
}

/// Serves until `stop_accepting` is cancelled, then until the connections in flight end;
/// `end_sessions` ends every MCP session (streams included) when cancelled; `sessions`
/// counts and caps them ([`sessions_for`]). `extra`: the application's routes.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop_accepting: CancellationToken,
    end_sessions: CancellationToken,
    sessions: Arc<super::sessions::Sessions>,
    extra: ExtraRoutes,
) -> std::io::Result<()> {
    let access = HttpAccess::from_config(&gateway);
    let app = application(gateway, access, end_sessions, sessions, extra);
    // Streamed (SSE) answers are several small writes: without TCP_NODELAY the later ones
    // wait for the client's delayed ACK (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Each request knows its client's address (`serve.sessions.per_client`).
    let app = axum::ServiceExt::into_make_service_with_connect_info::<std::net::SocketAddr>(app);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop_accepting.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> HttpAccess {
        HttpAccess {
            allowed_hosts: vec!["baton.internal".into()],
            allowed_origins: vec!["https://app.example".into()],
            max_body_bytes: 1024,
        }
    }

    #[test]
    fn loopback_and_configured_hosts_pass() {
        let access = access();
        for host in [
            "localhost:8931",
            "127.0.0.1:1",
            "[::1]:8931",
            "localhost",
            "baton.internal:80",
        ] {
            assert!(access.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8931",
            "127.0.0.1.evil.example",
        ] {
            assert!(!access.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn loopback_and_configured_origins_pass() {
        let access = access();
        assert!(access.origin_allowed("http://localhost:5173"));
        assert!(access.origin_allowed("https://app.example"));
        assert!(!access.origin_allowed("http://evil.example"));
        assert!(!access.origin_allowed("null"));
    }
}
