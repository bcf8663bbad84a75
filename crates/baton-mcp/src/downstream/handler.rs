//! The server facade: one [`DownstreamSession`] per downstream session (per request for
//! stateless 2026-07-28 HTTP), answering from the gateway's catalog and routing calls.

// `logging/setLevel` and `resources/subscribe` are legacy-era methods (deprecated by
// SEP-2577) that legacy clients still send.
#![allow(deprecated)]

use std::sync::Arc;

use tracing::Instrument;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use crate::{
    audit::{AuditKind, AuditStart},
    gateway::{CallContext, Gateway, ListTarget, SessionScope},
};

/// A session's handler: a cheap handle (one `Arc`) on its state, so that the direct path of
/// streamable HTTP ([`super::direct`]) can call it beside rmcp's service.
#[derive(Clone)]
pub struct DownstreamSession(Arc<SessionState>);

pub struct SessionState {
    pub(super) gateway: Arc<Gateway>,
    /// This session's own id: the owner of its tasks when the caller has no principal.
    pub(super) id: String,
    scope: SessionScope,
    registration: std::sync::Mutex<Option<u64>>,
    /// What a legacy client asked for with `logging/setLevel`, relayed to modern upstreams.
    log_level: std::sync::Mutex<Option<LoggingLevel>>,
    /// Who opened the session, when a transport authenticates per session (legacy SSE);
    /// streamable HTTP carries the principal on each request.
    principal: Option<super::auth::Principal>,
    /// Streamable HTTP's session manager, told of this handler and its peer once the
    /// session is initialized, for calls served beside rmcp's service.
    direct: Option<std::sync::Weak<super::parking::Parking>>,
    directed: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for DownstreamSession {
    type Target = SessionState;

    fn deref(&self) -> &SessionState {
        &self.0
    }
}

impl DownstreamSession {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        DownstreamSession::with(gateway, None, None)
    }

    fn with(
        gateway: Arc<Gateway>,
        principal: Option<super::auth::Principal>,
        direct: Option<std::sync::Weak<super::parking::Parking>>,
    ) -> Self {
        DownstreamSession(Arc::new(SessionState {
            gateway,
            id: uuid::Uuid::new_v4().simple().to_string(),
            scope: SessionScope::default(),
            registration: std::sync::Mutex::new(None),
            log_level: std::sync::Mutex::new(None),
            principal,
            direct,
            directed: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// A session opened by `principal` (legacy SSE).
    pub fn for_principal(gateway: Arc<Gateway>, principal: Option<super::auth::Principal>) -> Self {
        DownstreamSession::with(gateway, principal, None)
    }

    /// A streamable HTTP session of `parking`.
    pub(super) fn for_http(gateway: Arc<Gateway>, parking: &Arc<super::parking::Parking>) -> Self {
        DownstreamSession::with(gateway, None, Some(Arc::downgrade(parking)))
    }

    /// Tells the session manager this handler and `peer` serve the session whose id the
    /// request's HTTP parts carry (once per handler).
    fn offer_direct(&self, extensions: &rmcp::model::Extensions, peer: &rmcp::Peer<RoleServer>) {
        use std::sync::atomic::Ordering;
        let Some(parking) = self.direct.as_ref() else {
            return;
        };
        if self.directed.load(Ordering::Relaxed) {
            return;
        }
        let Some(id) = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(super::MCP_SESSION_ID))
            .and_then(|value| value.to_str().ok())
        else {
            return;
        };
        if let Some(parking) = parking.upgrade()
            && parking.offer_direct(id, self.clone(), peer.clone())
        {
            self.directed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the caller of this request may use `name` under `access:` (always, without
    /// an `access:` section or an authenticated caller: stdio and unauthenticated HTTP are
    /// trusted).
    /// Whether this request's caller may use `name` (see [`CallContext::may_use`]).
    pub(super) fn may_use(&self, context: &RequestContext<RoleServer>, name: &str) -> bool {
        self.visible(context)(name)
    }

    /// A check of names for this request's caller, for filtering a whole list.
    fn visible(&self, context: &RequestContext<RoleServer>) -> impl Fn(&str) -> bool + use<> {
        let call = self.call_context(context);
        let config = self.gateway.config();
        move |name| call.may_use(&config, name)
    }

    pub(super) fn call_context(&self, context: &RequestContext<RoleServer>) -> CallContext {
        let legacy = context
            .protocol_version()
            .is_none_or(|version| version.has_initialize());
        let log_level = context
            .meta
            .log_level()
            .or(*self.log_level.lock().unwrap_or_else(|p| p.into_inner()));
        CallContext {
            peer: Some(context.peer.clone()),
            progress: context.meta.get_progress_token(),
            cancel: context.ct.clone(),
            legacy,
            capabilities: context.client_capabilities(),
            log_level,
            mode: context
                .meta
                .0
                .get(crate::toolset::MODE_META)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            single_attempt: false,
            principal: context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<super::auth::Principal>())
                .or(self.principal.as_ref())
                .cloned(),
            trace_passthrough: crate::trace::passthrough(
                &context.meta.0,
                context
                    .extensions
                    .get::<http::request::Parts>()
                    .map(|parts| &parts.headers),
            ),
            input: None,
        }
    }

    fn register(&self, context_peer: &rmcp::service::Peer<RoleServer>) {
        let mut registration = self.registration.lock().unwrap_or_else(|p| p.into_inner());
        if registration.is_none() {
            *registration = Some(
                self.gateway
                    .register_downstream(ListTarget::Session(context_peer.clone())),
            );
        }
    }

    pub fn scope(&self) -> &SessionScope {
        &self.scope
    }

    /// The start of a use of a tool, prompt or resource: timed for the metrics, and
    /// described for the audit trail when the application keeps one.
    pub(super) fn begin(
        &self,
        context: &RequestContext<RoleServer>,
        kind: AuditKind,
        name: &str,
        arguments: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Use {
        let audit = self.gateway.audit().map(|_| {
            let principal = context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<super::auth::Principal>())
                .or(self.principal.as_ref());
            AuditStart::new(principal.map(|p| p.name.as_str()), kind, name, arguments)
        });
        let span = if crate::trace::spans_wanted() {
            server_span(context, kind, name)
        } else {
            tracing::Span::none()
        };
        Use {
            kind,
            started: std::time::Instant::now(),
            audit,
            span,
        }
    }

    /// The end of a use: its metrics, and its audit record.
    pub(super) fn end(&self, used: Use, name: &str, outcome: &'static str) {
        if outcome != "ok" {
            crate::trace::record_error(&used.span, outcome);
        }
        let catalog = self.gateway.catalog();
        match used.kind {
            AuditKind::Tool => {
                let (server, tool) = crate::metrics::tool_labels(&catalog, name);
                crate::metrics::tool_call(server, tool, outcome, used.started.elapsed());
            }
            AuditKind::Prompt => {
                let server = catalog
                    .prompt_routes
                    .get(name)
                    .map_or("unknown", |route| route.server.as_str());
                crate::metrics::other_use(used.kind, server.to_owned(), outcome);
            }
            AuditKind::Resource => {
                let server = catalog.resource_owner(name).unwrap_or("unknown");
                crate::metrics::other_use(used.kind, server.to_owned(), outcome);
            }
        }
        if let (Some(start), Some(sink)) = (used.audit, self.gateway.audit()) {
            sink.record(start.finish(outcome));
        }
    }
}

/// The SERVER span of a use (spans are recorded).
fn server_span(context: &RequestContext<RoleServer>, kind: AuditKind, name: &str) -> tracing::Span {
    let parts = context.extensions.get::<http::request::Parts>();
    let protocol = context
        .protocol_version()
        .map(|version| version.to_string());
    crate::trace::server_span(&crate::trace::Incoming {
        method: match kind {
            AuditKind::Tool => "tools/call",
            AuditKind::Prompt => "prompts/get",
            AuditKind::Resource => "resources/read",
        },
        target: name,
        meta: &context.meta.0,
        headers: parts.map(|parts| &parts.headers),
        session: parts
            .and_then(|parts| parts.headers.get(super::MCP_SESSION_ID))
            .and_then(|value| value.to_str().ok()),
        protocol: protocol.as_deref(),
        request_id: context.id.to_string(),
        transport: if parts.is_some() { "tcp" } else { "pipe" },
    })
}

/// A use of a tool, prompt or resource in progress.
pub(super) struct Use {
    kind: AuditKind,
    started: std::time::Instant,
    audit: Option<AuditStart>,
    /// Its SERVER span (disabled without a trace exporter).
    pub(super) span: tracing::Span,
}

/// The audit outcome of a prompt get or resource read.
pub(super) fn outcome<T>(result: &Result<T, ErrorData>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => crate::audit::outcome_of_error(error),
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        if let Some(id) = *self.registration.lock().unwrap_or_else(|p| p.into_inner()) {
            self.gateway.unregister_downstream(id);
        }
    }
}

impl ServerHandler for DownstreamSession {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::default();
        let mut tools = rmcp::model::ToolsCapability::default();
        tools.list_changed = Some(true);
        capabilities.tools = Some(tools);
        let mut prompts = rmcp::model::PromptsCapability::default();
        prompts.list_changed = Some(true);
        capabilities.prompts = Some(prompts);
        let mut resources = rmcp::model::ResourcesCapability::default();
        resources.list_changed = Some(true);
        resources.subscribe = Some(true);
        capabilities.resources = Some(resources);
        capabilities.completions = Some(Default::default());
        capabilities.logging = Some(Default::default());
        if self.gateway.tasks().is_some() {
            let mut extensions = capabilities.extensions.take().unwrap_or_default();
            extensions.insert(
                rmcp::model::TASKS_EXTENSION_ID.to_owned(),
                Default::default(),
            );
            capabilities.extensions = Some(extensions);
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("baton", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Baton aggregates several MCP servers. Tools are named <server>__<tool>; baton__status reports each server's state.",
            )
    }

    async fn initialize(
        &self,
        request: rmcp::model::InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.register(&context.peer);
        self.offer_direct(&context.extensions, &context.peer);
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Not applied to Baton's own logging (clients such as the Inspector send `debug` on
        // every connect, and Baton's log level is the operator's choice): it is relayed to
        // 2026-07-28 upstreams with each of this client's requests.
        *self.log_level.lock().unwrap_or_else(|p| p.into_inner()) = Some(request.level);
        Ok(())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.gateway.catalog().tool(name).cloned()
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::default();
        accepted.tools_list_changed = requested.tools_list_changed;
        accepted.prompts_list_changed = requested.prompts_list_changed;
        accepted.resources_list_changed = requested.resources_list_changed;
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let id = self
            .gateway
            .register_downstream(ListTarget::Subscription(context.sink().clone()));
        context.cancelled().await;
        self.gateway.unregister_downstream(id);
        Ok(())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(self.gateway.subscribe(
            &self.scope,
            request.uri,
            context.peer.clone(),
            true,
            self.call_context(&context),
        ))
        .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(self.gateway.subscribe(
            &self.scope,
            request.uri,
            context.peer.clone(),
            false,
            self.call_context(&context),
        ))
        .await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.register(&context.peer);
        self.gateway.list_grace().await;
        let tools = self.gateway.catalog().tools.clone();
        let may_use = self.visible(&context);
        let visible = tools
            .into_iter()
            .filter(|tool| may_use(&tool.name))
            .collect();
        Ok(ListToolsResult::with_all_items(visible))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // A session back from parking is offered on its first call.
        self.offer_direct(&context.extensions, &context.peer);
        let name = request.name.to_string();
        let used = self.begin(&context, AuditKind::Tool, &name, request.arguments.as_ref());
        // What the call carries upstream, built once; it also decides the caller's access.
        let call = self.call_context(&context);
        if !call.may_use(&self.gateway.config(), &name) {
            self.end(used, &name, "denied");
            // The same answer as for a tool that does not exist: nothing is revealed.
            return Err(crate::error::GatewayError::UnknownTool(name).into());
        }
        if let Some(backend) = self.gateway.tasks() {
            let declared = context
                .client_capabilities()
                .is_some_and(|capabilities| capabilities.supports_tasks());
            // Only a client that can take a task waits here for a name still coming up;
            // for the others the call's routing waits (a `required` tool of a server still
            // starting is then called synchronously).
            let support = Box::pin(self.gateway.task_support(&name, declared)).await;
            use crate::tasks::Dispatch;
            match crate::tasks::dispatch(support, declared) {
                Dispatch::Sync => {}
                // The first rounds go to the client as they come (MRTR); the call that
                // carries its answers becomes the task.
                Dispatch::TaskAfterInput if request.input_responses.is_none() => {}
                Dispatch::MissingCapability => {
                    let error = crate::tasks::missing_capability(&name);
                    self.end(used, &name, crate::audit::outcome_of_error(&error));
                    return Err(error);
                }
                Dispatch::Task | Dispatch::TaskAfterInput => {
                    let result =
                        Box::pin(self.start_task(backend, request, (None, None), &context)).await;
                    self.end(used, &name, outcome(&result));
                    return result.map(CallToolResponse::Task);
                }
            }
        }
        // Boxed: rmcp spawns each request's future, and this one is large.
        let result = Box::pin(self.gateway.call_tool(&self.scope, request, call))
            .instrument(used.span.clone())
            .await;
        self.end(
            used,
            &name,
            match &result {
                Ok(CallToolResponse::Complete(done)) if done.is_error == Some(true) => "tool_error",
                Ok(_) => "ok",
                Err(error) => crate::audit::outcome_of_error(error),
            },
        );
        result
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.gateway.list_grace().await;
        let prompts = self.gateway.catalog().prompts.clone();
        let may_use = self.visible(&context);
        let visible = prompts
            .into_iter()
            .filter(|prompt| may_use(&prompt.name))
            .collect();
        Ok(ListPromptsResult::with_all_items(visible))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request.name.clone();
        let used = self.begin(
            &context,
            AuditKind::Prompt,
            &name,
            request.arguments.as_ref(),
        );
        if !self.may_use(&context, &name) {
            self.end(used, &name, "denied");
            return Err(crate::error::GatewayError::UnknownPrompt(name).into());
        }
        let call = self.call_context(&context);
        let result = Box::pin(self.gateway.get_prompt(&self.scope, request, call))
            .instrument(used.span.clone())
            .await;
        self.end(used, &name, outcome(&result));
        result
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.gateway.list_grace().await;
        let resources = self.gateway.catalog().resources.clone();
        let may_use = self.visible(&context);
        let visible = resources
            .into_iter()
            .filter(|resource| may_use(&resource.uri))
            .collect();
        Ok(ListResourcesResult::with_all_items(visible))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.gateway.list_grace().await;
        Ok(ListResourceTemplatesResult::with_all_items(
            self.gateway.catalog().templates.clone(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let used = self.begin(&context, AuditKind::Resource, &uri, None);
        if !self.may_use(&context, &uri) {
            self.end(used, &uri, "denied");
            return Err(crate::error::GatewayError::UnknownResource(uri).into());
        }
        let call = self.call_context(&context);
        let result = Box::pin(self.gateway.read_resource(&self.scope, request, call))
            .instrument(used.span.clone())
            .await;
        self.end(used, &uri, outcome(&result));
        result
    }

    async fn get_task(
        &self,
        request: rmcp::model::GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, ErrorData> {
        Box::pin(self.task_get(request, context)).await
    }

    async fn cancel_task(
        &self,
        request: rmcp::model::CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(self.task_cancel(request, context)).await
    }

    async fn update_task(
        &self,
        request: rmcp::model::UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(self.task_update(request, context)).await
    }

    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, ErrorData> {
        if request.method.starts_with(super::legacy_tasks::PREFIX) {
            // Boxed, as every handler's large future: rmcp spawns each request's future,
            // which is as large as the largest of them.
            return Box::pin(self.legacy_request(request, context)).await;
        }
        Err(crate::error::GatewayError::UnknownMethod(request.method).into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let call = self.call_context(&context);
        Box::pin(self.gateway.complete(&self.scope, request, call)).await
    }
}
