//! Routing of the requests that carry a name or URI to their owning server: `tools/call`
//! (with fallbacks), `prompts/get`, `resources/read` and `completion/complete`.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientRequest, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, ReadResourceRequestParams, ReadResourceResponse,
    Reference, Request, ServerResult,
};

use super::{CallContext, Gateway, SessionScope, Topology};
use crate::{
    cache::{CacheKey, canonical_json},
    error::{CallError, GatewayError},
    toolset::{MODE_META, ToolContext},
};

/// The `_meta` key carrying a workflow step's idempotency key to the upstream.
pub const IDEMPOTENCY_KEY: &str = "io.baton/idempotency-key";

impl Gateway {
    /// Routes a `tools/call`; when it fails for want of a server (open circuit, timeout,
    /// transport failure) and the tool has `fallback:` candidates, they are tried in order
    /// with the same arguments (their own fallbacks are not followed).
    ///
    /// Not an `async fn` (nor is [`Gateway::call_tool_typed`]): an `async fn` keeps its
    /// arguments twice (as given, then moved into its body), an `async` block that awaits
    /// a future it holds keeps that future twice too, and every proxied call copies these
    /// futures whole as they start.
    pub fn call_tool(
        &self,
        scope: &SessionScope,
        params: CallToolRequestParams,
        call: CallContext,
    ) -> impl Future<Output = Result<CallToolResponse, rmcp::ErrorData>> + Send {
        // A client's call: a shutdown lets it finish (`drain`).
        let in_flight = self.call_started();
        crate::future::then(self.call_tool_typed(scope, params, call), move |result| {
            drop(in_flight);
            result.map_err(Into::into)
        })
    }

    /// [`Gateway::call_tool`] with the failure still typed, for callers that decide by it
    /// (the engine retries what is transient, never what is permanent).
    #[allow(clippy::manual_async_fn)] // an `async fn` would keep its arguments twice
    pub fn call_tool_typed(
        &self,
        scope: &SessionScope,
        params: CallToolRequestParams,
        call: CallContext,
    ) -> impl Future<Output = Result<CallToolResponse, CallError>> + Send {
        async move {
            let topology = self.topology();
            let fallbacks = self.fallbacks_of(&topology, &params.name);
            if fallbacks.is_empty() {
                return self.call_tool_once(&topology, scope, params, &call).await;
            }
            // Boxed: the fallbacks' loop would otherwise enlarge every call's future.
            Box::pin(self.call_with_fallbacks(&topology, scope, params, &call, fallbacks)).await
        }
    }

    /// [`Gateway::call_tool_typed`] for a tool with `fallback:` candidates: the tool, then
    /// each candidate in order while the failure is the server's.
    async fn call_with_fallbacks(
        &self,
        topology: &Topology,
        scope: &SessionScope,
        params: CallToolRequestParams,
        call: &CallContext,
        fallbacks: Vec<String>,
    ) -> Result<CallToolResponse, CallError> {
        let mut failures = Vec::new();
        let candidates = std::iter::once(params.name.to_string()).chain(fallbacks);
        for (index, name) in candidates.enumerate() {
            let mut attempt = params.clone();
            attempt.name = name.clone().into();
            match self.call_tool_once(topology, scope, attempt, call).await {
                Ok(result) => {
                    if index > 0 {
                        tracing::info!(tool = %params.name, fallback = %name, "answered by a fallback");
                        crate::metrics::fallback_used(&self.catalog(), &params.name, &name);
                    }
                    return Ok(result);
                }
                Err(error) if error.server_failed() => {
                    failures.push(format!("{name}: {}", error.message()));
                }
                Err(error) => return Err(error),
            }
        }
        Err(CallError::Gateway(GatewayError::Upstream {
            server: self
                .catalog()
                .tool_routes
                .get(params.name.as_ref())
                .map(|route| route.server.clone())
                .unwrap_or_default(),
            reason: format!(
                "the tool and its fallbacks all failed: {}",
                failures.join("; ")
            ),
        }))
    }

    /// The cache key and time for this call, when the tool is read-only and a cache time
    /// is configured for it.
    fn cache_key(
        &self,
        topology: &Topology,
        server: &str,
        tool: &str,
        definition: Option<&rmcp::model::Tool>,
        params: &CallToolRequestParams,
    ) -> Option<(CacheKey, std::time::Duration)> {
        let read_only = definition
            .and_then(|tool| tool.annotations.as_ref())
            .is_some_and(|hints| hints.read_only_hint == Some(true));
        let upstream = topology.upstream(server)?;
        let ttl = upstream.config.resilience.cache_ttl_for(tool)?;
        if !read_only {
            return None;
        }
        let arguments = params
            .arguments
            .clone()
            .map(serde_json::Value::Object)
            .unwrap_or_default();
        Some((
            CacheKey {
                server: server.to_owned(),
                generation: upstream.generation(),
                tool: tool.to_owned(),
                arguments: canonical_json(&arguments),
            },
            ttl,
        ))
    }

    /// The `fallback:` candidates configured for the exposed tool `name`.
    fn fallbacks_of(&self, topology: &Topology, name: &str) -> Vec<String> {
        let catalog = self.catalog();
        let Some(route) = catalog.tool_routes.get(name) else {
            return Vec::new();
        };
        topology
            .upstream(&route.server)
            .and_then(|u| {
                u.config
                    .resilience
                    .tool_fallbacks
                    .get(&route.original)
                    .cloned()
            })
            .unwrap_or_default()
    }

    /// One candidate of a `tools/call`: the mode check every call passes, then the owning
    /// tool set or upstream.
    async fn call_tool_once(
        &self,
        topology: &Topology,
        scope: &SessionScope,
        params: CallToolRequestParams,
        call: &CallContext,
    ) -> Result<CallToolResponse, CallError> {
        let name = params.name.as_ref();
        let mut catalog = self.catalog();
        if !catalog.tool_routes.contains_key(name)
            && let Some(grown) =
                Box::pin(self.wait_for_name(Some(name), |c| c.tool_routes.contains_key(name))).await
        {
            catalog = grown;
        }
        let route = catalog
            .tool_routes
            .get(name)
            .ok_or_else(|| self.missing_tool(name))?;
        let mode = call
            .mode
            .clone()
            .or_else(|| {
                params
                    .meta
                    .as_ref()
                    .and_then(|meta| meta.0.0.get(MODE_META))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| scope.mode());
        let set = route.set.and_then(|index| self.sets.get(index));
        if let Some(mode) = &mode {
            let group = match set {
                Some(set) => set.group(&route.original),
                None => Some(baton_core::modes::ToolGroup::Mcp),
            };
            if let Err(refusal) =
                super::guard::check_mode(&topology.config, mode, group, params.arguments.as_ref())
            {
                tracing::info!(tool = %params.name, mode, "refused by the mode: {refusal}");
                return Ok(CallToolResponse::Complete(
                    rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                        refusal,
                    )]),
                ));
            }
        }
        if let Some(set) = set {
            // Boxed: Baton's own tools' future would otherwise enlarge every proxied call's.
            return Box::pin(self.call_set(set.as_ref(), route, params, scope, call, mode)).await;
        }
        Box::pin(self.call_upstream(topology, &catalog, route, params, scope, call)).await
    }

    /// A tool of one of Baton's own sets.
    async fn call_set(
        &self,
        set: &dyn crate::toolset::ToolSet,
        route: &crate::catalog::Route,
        params: CallToolRequestParams,
        scope: &SessionScope,
        call: &CallContext,
        mode: Option<String>,
    ) -> Result<CallToolResponse, CallError> {
        let gateway = self.handle().ok_or(GatewayError::Unavailable {
            server: route.server.clone(),
            reason: "Baton is shutting down".to_owned(),
        })?;
        let context = ToolContext {
            gateway: &gateway,
            scope,
            call,
            mode,
        };
        set.call(
            &route.original,
            params.arguments.unwrap_or_default(),
            context,
        )
        .await
        .map(CallToolResponse::Complete)
        .map_err(CallError::Server)
    }

    /// A tool of an upstream server: cached answer, or forwarded under its original name.
    async fn call_upstream(
        &self,
        topology: &Topology,
        catalog: &crate::catalog::Catalog,
        route: &crate::catalog::Route,
        mut params: CallToolRequestParams,
        scope: &SessionScope,
        call: &CallContext,
    ) -> Result<CallToolResponse, CallError> {
        let definition = catalog.tool(params.name.as_ref());
        let plan = self.plan(topology, &route.server, Some((&route.original, definition)));
        let cache_key = self.cache_key(
            topology,
            &route.server,
            &route.original,
            definition,
            &params,
        );
        if let Some((key, _)) = &cache_key
            && let Some(result) = self.cache.get(key)
        {
            return Ok(CallToolResponse::Complete(result));
        }
        params.name = route.original.clone().into();
        // The caller's `_meta` stays here, but for a workflow step's idempotency key.
        params.meta = params
            .meta
            .take()
            .and_then(|meta| meta.0.0.get(IDEMPOTENCY_KEY).cloned())
            .map(|key| {
                let mut meta = rmcp::model::JsonObject::new();
                meta.insert(IDEMPOTENCY_KEY.to_owned(), key);
                rmcp::model::RequestMetaObject(rmcp::model::MetaObject(meta))
            });
        let request = ClientRequest::CallToolRequest(Request::new(params));
        let result = self
            .forward_with(
                topology,
                plan,
                &route.original,
                &route.server,
                scope,
                call,
                &request,
            )
            .await?;
        match result {
            ServerResult::CallToolResult(result) => {
                if let Some((key, ttl)) = cache_key {
                    self.cache.put(key, ttl, &result);
                }
                Ok(CallToolResponse::Complete(result))
            }
            ServerResult::InputRequiredResult(result) => {
                Ok(CallToolResponse::InputRequired(result))
            }
            other => Err(CallError::Server(unexpected(
                &route.server,
                "tools/call",
                &other,
            ))),
        }
    }

    pub async fn get_prompt(
        &self,
        scope: &SessionScope,
        mut params: GetPromptRequestParams,
        call: CallContext,
    ) -> Result<GetPromptResponse, rmcp::ErrorData> {
        let route = self
            .prompt_route(&params.name)
            .await
            .ok_or_else(|| GatewayError::UnknownPrompt(params.name.clone()))?;
        let topology = self.topology();
        let plan = self.plan(&topology, &route.server, None);
        params.name = route.original;
        params.meta = None;
        let result = self
            .forward_with(
                &topology,
                plan,
                "prompts/get",
                &route.server,
                scope,
                &call,
                &ClientRequest::GetPromptRequest(Request::new(params)),
            )
            .await?;
        match result {
            ServerResult::GetPromptResult(result) => Ok(GetPromptResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Ok(GetPromptResponse::InputRequired(result))
            }
            other => Err(unexpected(&route.server, "prompts/get", &other)),
        }
    }

    pub async fn read_resource(
        &self,
        scope: &SessionScope,
        mut params: ReadResourceRequestParams,
        call: CallContext,
    ) -> Result<ReadResourceResponse, rmcp::ErrorData> {
        let server = self
            .resource_server(&params.uri)
            .await
            .ok_or_else(|| GatewayError::UnknownResource(params.uri.clone()))?;
        params.meta = None;
        let topology = self.topology();
        let result = self
            .forward_with(
                &topology,
                self.plan(&topology, &server, None),
                "resources/read",
                &server,
                scope,
                &call,
                &ClientRequest::ReadResourceRequest(Request::new(params)),
            )
            .await?;
        match result {
            ServerResult::ReadResourceResult(result) => Ok(ReadResourceResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Ok(ReadResourceResponse::InputRequired(result))
            }
            other => Err(unexpected(&server, "resources/read", &other)),
        }
    }

    pub async fn complete(
        &self,
        scope: &SessionScope,
        mut params: CompleteRequestParams,
        call: CallContext,
    ) -> Result<CompleteResult, rmcp::ErrorData> {
        let server = match &mut params.r#ref {
            Reference::Prompt(prompt) => {
                let route = self
                    .prompt_route(&prompt.name)
                    .await
                    .ok_or_else(|| GatewayError::UnknownPrompt(prompt.name.clone()))?;
                prompt.name = route.original;
                route.server
            }
            Reference::Resource(resource) => self
                .resource_server(&resource.uri)
                .await
                .ok_or_else(|| GatewayError::UnknownResource(resource.uri.clone()))?,
            _ => {
                return Err(GatewayError::InvalidParams(
                    "completion/complete: unsupported reference type (expected ref/prompt or ref/resource)"
                        .to_owned(),
                )
                .into());
            }
        };
        params.meta = None;
        let topology = self.topology();
        let result = self
            .forward_with(
                &topology,
                self.plan(&topology, &server, None),
                "completion/complete",
                &server,
                scope,
                &call,
                &ClientRequest::CompleteRequest(Request::new(params)),
            )
            .await?;
        match result {
            ServerResult::CompleteResult(result) => Ok(result),
            other => Err(unexpected(&server, "completion/complete", &other)),
        }
    }
}

impl Gateway {
    /// Where prompt `name` leads, waiting for its server if it is coming up.
    async fn prompt_route(&self, name: &str) -> Option<crate::catalog::Route> {
        let found = |catalog: &crate::catalog::Catalog| catalog.prompt_routes.contains_key(name);
        let catalog = self.wait_for_name(Some(name), found).await?;
        catalog.prompt_routes.get(name).cloned()
    }

    /// The server that owns resource `uri`, waiting for servers still connecting.
    async fn resource_server(&self, uri: &str) -> Option<String> {
        let found = |catalog: &crate::catalog::Catalog| catalog.resource_owner(uri).is_some();
        let catalog = self.wait_for_name(None, found).await?;
        catalog.resource_owner(uri).map(str::to_owned)
    }
}

fn unexpected(server: &str, method: &str, result: &ServerResult) -> rmcp::ErrorData {
    GatewayError::Upstream {
        server: server.to_owned(),
        reason: format!("it answered {method} with an unexpected result: {result:?}"),
    }
    .into()
}
