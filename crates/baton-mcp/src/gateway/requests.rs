//! Routing of the requests that carry a name or URI to their owning server: `tools/call`
//! (with fallbacks), `prompts/get`, `resources/read` and `completion/complete`.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientRequest, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, ReadResourceRequestParams, ReadResourceResponse,
    Reference, Request, ServerResult,
};

use super::{CallContext, Gateway, SessionScope, Topology};
use crate::{
    builtin,
    cache::{CacheKey, canonical_json},
    error::{CallError, GatewayError},
};
use baton_core::config::{BUILTIN_SERVER, WORKFLOW_SERVER};

impl Gateway {
    /// Routes a `tools/call`; when it fails for want of a server (open circuit, timeout,
    /// transport failure) and the tool has `fallback:` candidates, they are tried in order
    /// with the same arguments (their own fallbacks are not followed).
    pub async fn call_tool(
        &self,
        scope: &SessionScope,
        params: CallToolRequestParams,
        call: CallContext,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        let topology = self.topology();
        let fallbacks = self.fallbacks_of(&topology, &params.name);
        if fallbacks.is_empty() {
            return self
                .call_tool_once(&topology, scope, params, &call)
                .await
                .map_err(Into::into);
        }
        let mut failures = Vec::new();
        let candidates = std::iter::once(params.name.to_string()).chain(fallbacks);
        for (index, name) in candidates.enumerate() {
            let mut attempt = params.clone();
            attempt.name = name.clone().into();
            match self.call_tool_once(&topology, scope, attempt, &call).await {
                Ok(result) => {
                    if index > 0 {
                        tracing::info!(tool = %params.name, fallback = %name, "answered by a fallback");
                    }
                    return Ok(result);
                }
                Err(error) if error.server_failed() => {
                    failures.push(format!("{name}: {}", error.message()));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(GatewayError::Upstream {
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
        }
        .into())
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

    async fn call_tool_once(
        &self,
        topology: &Topology,
        scope: &SessionScope,
        mut params: CallToolRequestParams,
        call: &CallContext,
    ) -> Result<CallToolResponse, CallError> {
        let catalog = self.catalog();
        let route = catalog
            .tool_routes
            .get(params.name.as_ref())
            .cloned()
            .ok_or_else(|| self.missing_tool(&params.name))?;
        // A session in a mode (switch_mode, or `_meta["io.baton/mode"]`) may use only the
        // mode's tool groups.
        let mode = call
            .mode
            .clone()
            .or_else(|| {
                params
                    .meta
                    .as_ref()
                    .and_then(|meta| meta.0.0.get(crate::builtin::modes::MODE_META))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| scope.mode());
        if let Some(mode) = &mode
            && let Err(refusal) = crate::builtin::modes::check(
                &topology.config,
                mode,
                &route.server,
                &route.original,
                params.arguments.as_ref(),
            )
        {
            tracing::info!(tool = %params.name, mode, "refused by the mode: {refusal}");
            return Ok(CallToolResponse::Complete(
                rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(refusal)]),
            ));
        }
        if route.server == BUILTIN_SERVER || route.server == WORKFLOW_SERVER {
            let arguments = params.arguments.unwrap_or_default();
            let engine_tool = route.server == WORKFLOW_SERVER
                || crate::workflows::is_engine_tool(&route.original);
            if route.server == BUILTIN_SERVER
                && crate::automation::is_tool(&route.original)
                && let Some(automation) = self.automation()
            {
                let result = crate::automation::call(automation, &route.original, arguments).await;
                return Ok(CallToolResponse::Complete(result));
            }
            let result = match self.engine() {
                Some(engine) if engine_tool => {
                    crate::workflows::call(engine, &route.server, &route.original, arguments, call)
                        .await
                }
                _ => builtin::call(self, &route.original, arguments, mode, scope, call).await,
            };
            return result
                .map(CallToolResponse::Complete)
                .map_err(CallError::Server);
        }
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
            .and_then(|meta| meta.0.0.get(crate::workflows::IDEMPOTENCY_KEY).cloned())
            .map(|key| {
                let mut meta = rmcp::model::JsonObject::new();
                meta.insert(crate::workflows::IDEMPOTENCY_KEY.to_owned(), key);
                rmcp::model::RequestMetaObject(rmcp::model::MetaObject(meta))
            });
        let result = self
            .forward_with(
                topology,
                plan,
                &route.original,
                &route.server,
                scope,
                call,
                params,
                |params| ClientRequest::CallToolRequest(Request::new(params)),
                |params, responses, state| {
                    params.input_responses = responses;
                    params.request_state = state;
                },
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
            ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
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
            .catalog()
            .prompt_routes
            .get(&params.name)
            .cloned()
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
                params,
                |params| ClientRequest::GetPromptRequest(Request::new(params)),
                |params, responses, state| {
                    params.input_responses = responses;
                    params.request_state = state;
                },
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
            .catalog()
            .resource_owner(&params.uri)
            .map(str::to_owned)
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
                params,
                |params| ClientRequest::ReadResourceRequest(Request::new(params)),
                |params, responses, state| {
                    params.input_responses = responses;
                    params.request_state = state;
                },
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
    ) -> Result<CompleteResult, rmcp::ErrorData> {
        let catalog = self.catalog();
        let server = match &mut params.r#ref {
            Reference::Prompt(prompt) => {
                let route = catalog
                    .prompt_routes
                    .get(&prompt.name)
                    .cloned()
                    .ok_or_else(|| GatewayError::UnknownPrompt(prompt.name.clone()))?;
                prompt.name = route.original;
                route.server
            }
            Reference::Resource(resource) => catalog
                .resource_owner(&resource.uri)
                .map(str::to_owned)
                .ok_or_else(|| GatewayError::UnknownResource(resource.uri.clone()))?,
            _ => {
                return Err(rmcp::ErrorData::invalid_params(
                    "completion/complete: unsupported reference type (expected ref/prompt or ref/resource)",
                    None,
                ));
            }
        };
        let connection = self.connection(&self.topology(), &server, scope).await?;
        params.meta = None;
        connection
            .session
            .peer()
            .complete(params)
            .await
            .map_err(|error| GatewayError::from_service(&server, error).into())
    }
}

fn unexpected(server: &str, method: &str, result: &ServerResult) -> rmcp::ErrorData {
    GatewayError::Upstream {
        server: server.to_owned(),
        reason: format!("it answered {method} with an unexpected result: {result:?}"),
    }
    .into()
}
