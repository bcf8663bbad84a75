#!/usr/bin/env python3
"""Baton's own upstream for the MCP conformance suite (run by scripts/conformance.sh).

Many conformance scenarios call tools, prompts and resources by fixed names
(`test_simple_text`, `test://static-text`, ...) that only the suite's fixture server
has. A gateway passes those scenarios only by relaying them, faithfully, to an upstream
that implements them. This file is that upstream: an independent implementation of the
behaviour each scenario describes, on the Python SDK installed in .peers/venv (mcp 2.x,
which speaks both 2025-11-25 and 2026-07-28).

Names are served WITHOUT the `test_` prefix: behind Baton, the server is configured as
`test` with `namespace.separator: "_"`, so Baton itself exposes `test_simple_text` for
the tool `simple_text`. `--prefix test_` serves the prefixed names directly, to run the
suite against this fixture alone (that is how a fixture bug is told from a Baton bug).

    .peers/bin/python scripts/conformance-fixture.py                 # stdio, names unprefixed
    .peers/bin/python scripts/conformance-fixture.py --only json     # stdio, the JSON Schema tool only
    .peers/bin/python scripts/conformance-fixture.py --only tasks    # stdio, the tasks scenarios' tools
    .peers/bin/python scripts/conformance-fixture.py --prefix test_ --http 3001
"""

import argparse
import asyncio
import base64
import json
from typing import Annotated, Any

from mcp.server import ServerRequestContext
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    RequestStateSecurity,
    Resolve,
    Sample,
)
from mcp.server.mcpserver.prompts.base import Prompt, UserMessage
from mcp.shared.exceptions import MCPError
from mcp.types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_EMPTY = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
STATE_KEY = b"baton-conformance-fixture-request-state-key-0001"

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def ask(message: str, field: str = "name", kind: str = "string") -> ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def sample(text: str, max_tokens: int = 100) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def elicited(answer: Any, field: str) -> Any:
    if isinstance(answer, ElicitResult) and answer.content:
        return answer.content.get(field)
    return None


class Reply(BaseModel):
    response: str = Field(description="User's response")


class Defaults(BaseModel):
    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: str = Field(
        default="active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    verified: bool = Field(default=True, description="Verification status")


class Enums(BaseModel):
    untitledSingle: str = Field(description="Plain enum", json_schema_extra={"enum": ["active", "inactive", "pending"]})
    titledSingle: str = Field(
        description="Titled enum",
        json_schema_extra={
            "oneOf": [
                {"const": "low", "title": "Low Priority"},
                {"const": "medium", "title": "Medium Priority"},
                {"const": "high", "title": "High Priority"},
            ]
        },
    )
    untitledMulti: list[str] = Field(
        description="Plain multi-select",
        json_schema_extra={"items": {"type": "string", "enum": ["read", "write", "execute"]}},
    )
    titledMulti: list[str] = Field(
        description="Titled multi-select",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"const": "feature", "title": "New Feature"},
                    {"const": "bug", "title": "Bug Fix"},
                    {"const": "docs", "title": "Documentation"},
                ]
            }
        },
    )
    legacyEnum: str = Field(
        description="Legacy enumNames",
        json_schema_extra={"enum": ["small", "medium", "large"], "enumNames": ["Small Size", "Medium Size", "Large Size"]},
    )


def build(prefix: str) -> MCPServer:
    mcp = MCPServer(
        name="baton-conformance-fixture",
        version="1.0.0",
        request_state_security=RequestStateSecurity(keys=[STATE_KEY]),
    )

    def tool(name: str):
        return mcp.tool(name=prefix + name)

    # ---- content types ---------------------------------------------------------------
    @tool("simple_text")
    def simple_text() -> str:
        """Returns one text block."""
        return "This is a simple text response for testing."

    @tool("image_content")
    def image_content() -> list[ImageContent]:
        """Returns one PNG image block."""
        return [ImageContent(type="image", data=PNG_1X1, mime_type="image/png")]

    @tool("audio_content")
    def audio_content() -> list[AudioContent]:
        """Returns one WAV audio block."""
        return [AudioContent(type="audio", data=WAV_EMPTY, mime_type="audio/wav")]

    @tool("embedded_resource")
    def embedded_resource() -> list[EmbeddedResource]:
        """Returns one embedded text resource."""
        contents = TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
        )
        return [EmbeddedResource(type="resource", resource=contents)]

    @tool("multiple_content_types")
    def multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
        """Returns text, image and an embedded resource."""
        contents = TextResourceContents(
            uri="test://mixed-content-resource", mime_type="application/json", text='{"test": "data", "value": 123}'
        )
        return [
            TextContent(type="text", text="Multiple content types test:"),
            ImageContent(type="image", data=PNG_1X1, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=contents),
        ]

    @tool("error_handling")
    def error_handling() -> str:
        """Always fails (a tool error, isError: true)."""
        raise RuntimeError("This tool intentionally returns an error for testing")

    # ---- notifications during a call -------------------------------------------------
    @tool("x_mcp_header")
    def x_mcp_header(
        region: Annotated[
            str, Field(description="Mirrored in the Mcp-Param-Region header", json_schema_extra={"x-mcp-header": "Region"})
        ] = "<none>",
    ) -> str:
        """Has a parameter mirrored in an HTTP header (SEP-2243)."""
        return f"region={region}"

    @tool("tool_with_logging")
    async def tool_with_logging(ctx: Context) -> str:
        """Sends three log messages while running."""
        for text in ("Tool execution started", "Tool processing data", "Tool execution completed"):
            await ctx.info(text)
            await asyncio.sleep(0.05)
        return "Tool with logging executed successfully"

    @tool("logging_tool")
    async def logging_tool(ctx: Context) -> str:
        """Logs once; must stay silent when the request set no log level (2026-07-28)."""
        await ctx.info("logging_tool ran")
        return "logged"

    @tool("tool_with_progress")
    async def tool_with_progress(ctx: Context) -> str:
        """Reports progress 0, 50, 100 of 100."""
        for step in (0, 50, 100):
            await ctx.report_progress(progress=step, total=100, message=f"Completed step {step} of 100")
            await asyncio.sleep(0.05)
        meta = ctx.request_context.meta if ctx.request_context else None
        return str(meta.get("progress_token") if meta else 0)

    # ---- requests to the client ------------------------------------------------------
    # Written with the SDK's resolvers, as a modern server would be: on a 2025-11-25 session
    # the SDK sends sampling/createMessage or elicitation/create mid-call; on a 2026-07-28
    # session (which is what Baton opens to this fixture) it returns an input-required
    # result and resumes on the retry. Behind Baton, a 2025-11-25 client therefore passes
    # these scenarios only if Baton bridges the eras (asks the client, then retries).
    def llm_question(prompt: str) -> Sample:
        return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=100)

    @tool("sampling")
    async def sampling(prompt: str, answer: Annotated[CreateMessageResult, Resolve(llm_question)]) -> str:
        """Asks the client's LLM (sampling/createMessage)."""
        text = answer.content.text if answer.content.type == "text" else "No response"
        return f"LLM response: {text}"

    def outcome(label: str, result: ElicitationResult[Any]) -> str:
        content = result.data.model_dump_json() if isinstance(result, AcceptedElicitation) else "{}"
        return f"{label}: action={result.action}, content={content}"

    def reply_question(message: str) -> Elicit[Reply]:
        return Elicit(message, Reply)

    def defaults_question() -> Elicit[Defaults]:
        return Elicit("Please review the fields", Defaults)

    def enums_question() -> Elicit[Enums]:
        return Elicit("Please pick values", Enums)

    @tool("elicitation")
    async def elicitation(message: str, reply: Annotated[ElicitationResult[Reply], Resolve(reply_question)]) -> str:
        """Asks the user (elicitation/create)."""
        return outcome("User response", reply)

    @tool("elicitation_sep1034_defaults")
    async def elicitation_sep1034_defaults(
        reply: Annotated[ElicitationResult[Defaults], Resolve(defaults_question)],
    ) -> str:
        """Elicitation whose schema has a default for every primitive type."""
        return outcome("Elicitation result", reply)

    @tool("elicitation_sep1330_enums")
    async def elicitation_sep1330_enums(reply: Annotated[ElicitationResult[Enums], Resolve(enums_question)]) -> str:
        """Elicitation with every enum schema form."""
        return outcome("Elicitation completed", reply)

    # ---- 2026-07-28: capabilities, input-required results, list changes --------------
    @tool("missing_capability")
    async def missing_capability(ctx: Context) -> str:
        """Needs the client's sampling capability; -32021 when it was not declared."""
        caps = ctx.client_capabilities
        if caps is None or caps.sampling is None:
            raise MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message="This tool requires the client 'sampling' capability",
                data={"requiredCapabilities": {"sampling": {}}},
            )
        return "sampling declared"

    @tool("streaming_elicitation")
    async def streaming_elicitation(ctx: Context) -> str | InputRequiredResult:
        """Needs user input: asks for it with an input-required result, never a stream request."""
        responses = ctx.input_responses
        if responses and "answer" in responses:
            return f"answered: {elicited(responses['answer'], 'name')}"
        return InputRequiredResult(input_requests={"answer": ask("What is your name?")})

    @tool("input_required_result_elicitation")
    async def irr_elicitation(ctx: Context) -> str | InputRequiredResult:
        """One elicitation round."""
        responses = ctx.input_responses
        if responses and "user_name" in responses:
            return f"Hello, {elicited(responses['user_name'], 'name') or 'stranger'}!"
        return InputRequiredResult(input_requests={"user_name": ask("What is your name?")})

    @tool("input_required_result_sampling")
    async def irr_sampling(ctx: Context) -> str | InputRequiredResult:
        """One sampling round."""
        responses = ctx.input_responses
        if responses and "capital_question" in responses:
            answer = responses["capital_question"]
            text = answer.content.text if isinstance(answer, CreateMessageResult) and answer.content.type == "text" else "?"
            return f"Model said: {text}"
        return InputRequiredResult(input_requests={"capital_question": sample("What is the capital of France?")})

    @tool("input_required_result_list_roots")
    async def irr_list_roots(ctx: Context) -> str | InputRequiredResult:
        """One roots/list round."""
        responses = ctx.input_responses
        if responses and "client_roots" in responses:
            answer = responses["client_roots"]
            count = len(answer.roots) if isinstance(answer, ListRootsResult) else 0
            return f"Client exposed {count} root(s)."
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})

    @tool("input_required_result_request_state")
    async def irr_request_state(ctx: Context) -> str | InputRequiredResult:
        """Round-trips an opaque requestState."""
        responses = ctx.input_responses
        if responses and "confirm" in responses and ctx.request_state == "request-state-nonce":
            return "state-ok: confirmation received"
        return InputRequiredResult(
            input_requests={"confirm": ask("Please confirm", "ok", "boolean")}, request_state="request-state-nonce"
        )

    @tool("input_required_result_multiple_inputs")
    async def irr_multiple(ctx: Context) -> str | InputRequiredResult:
        """Elicitation, sampling and roots in one round."""
        responses = ctx.input_responses
        if responses and {"user_name", "greeting", "client_roots"} <= responses.keys():
            return "All inputs received."
        return InputRequiredResult(
            input_requests={
                "user_name": ask("What is your name?"),
                "greeting": sample("Generate a greeting", 50),
                "client_roots": ListRootsRequest(),
            },
            request_state="multiple-inputs",
        )

    @tool("input_required_result_multi_round")
    async def irr_multi_round(ctx: Context) -> str | InputRequiredResult:
        """Three rounds, the state growing each time."""
        state = json.loads(ctx.request_state) if ctx.request_state else {"round": 0}
        responses = ctx.input_responses or {}
        if state["round"] == 1 and "step1" in responses:
            return InputRequiredResult(
                input_requests={"step2": ask("Step 2: What is your favorite color?", "color")},
                request_state=json.dumps({"round": 2, "name": elicited(responses["step1"], "name")}),
            )
        if state["round"] == 2 and "step2" in responses:
            return f"{state.get('name')} likes {elicited(responses['step2'], 'color')}."
        return InputRequiredResult(
            input_requests={"step1": ask("Step 1: What is your name?")}, request_state=json.dumps({"round": 1})
        )

    @tool("input_required_result_tampered_state")
    async def irr_tampered(ctx: Context) -> str | InputRequiredResult:
        """The SDK's request-state boundary rejects a tampered echo."""
        if ctx.request_state is None:
            return InputRequiredResult(
                input_requests={"confirm": ask("Please confirm", "ok", "boolean")}, request_state="round-1"
            )
        return f"state-ok: {ctx.request_state}"

    @tool("input_required_result_capabilities")
    async def irr_capabilities(ctx: Context) -> InputRequiredResult:
        """Asks only for what the client declared it supports."""
        caps = ctx.client_capabilities
        requests: dict[str, InputRequest] = {}
        if caps is None or caps.sampling is not None:
            requests["sample"] = sample("Say hello", 50)
        if caps is None or caps.elicitation is not None:
            requests["ask"] = ask("What is your name?")
        return InputRequiredResult(input_requests=requests, request_state="capability-gated")

    def dynamic_tool() -> str:
        """Added and removed by trigger_tool_change."""
        return "dynamic"

    def dynamic_prompt() -> str:
        """Added and removed by trigger_prompt_change."""
        return "dynamic"

    @tool("trigger_tool_change")
    async def trigger_tool_change(ctx: Context) -> str:
        """Changes the tool list and says so."""
        mcp.add_tool(dynamic_tool, name=prefix + "dynamic_tool")
        mcp.remove_tool(prefix + "dynamic_tool")
        await ctx.notify_tools_changed()
        return "tool list changed"

    @tool("trigger_prompt_change")
    async def trigger_prompt_change(ctx: Context) -> str:
        """Changes the prompt list and says so."""
        mcp.add_prompt(Prompt.from_function(dynamic_prompt, name=prefix + "dynamic_prompt", description="dynamic"))
        mcp.remove_prompt(prefix + "dynamic_prompt")
        await ctx.notify_prompts_changed()
        return "prompt list changed"

    # ---- resources -------------------------------------------------------------------
    @mcp.resource("test://static-text", mime_type="text/plain")
    def static_text() -> str:
        """A static text resource."""
        return "This is the content of the static text resource."

    @mcp.resource("test://static-binary", mime_type="image/png")
    def static_binary() -> bytes:
        """A static binary resource (a PNG)."""
        return base64.b64decode(PNG_1X1)

    @mcp.resource("test://template/{id}/data", mime_type="application/json")
    def template_data(id: str) -> str:
        """A templated resource that echoes its parameter."""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @mcp.resource("test://watched-resource", mime_type="text/plain")
    def watched() -> str:
        """A resource to subscribe to."""
        return "Watched resource content"

    # ---- prompts ---------------------------------------------------------------------
    @mcp.prompt(name=prefix + "simple_prompt")
    def simple_prompt() -> list[UserMessage]:
        """A prompt without arguments."""
        return [UserMessage(role="user", content=TextContent(type="text", text="This is a simple prompt for testing."))]

    @mcp.prompt(name=prefix + "prompt_with_arguments")
    def prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
        """A prompt with two required arguments."""
        text = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
        return [UserMessage(role="user", content=TextContent(type="text", text=text))]

    @mcp.prompt(name=prefix + "prompt_with_embedded_resource")
    def prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
        """A prompt that embeds a resource."""
        contents = TextResourceContents(uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing.")
        return [
            UserMessage(role="user", content=EmbeddedResource(type="resource", resource=contents)),
            UserMessage(role="user", content=TextContent(type="text", text="Please process the embedded resource above.")),
        ]

    @mcp.prompt(name=prefix + "prompt_with_image")
    def prompt_with_image() -> list[UserMessage]:
        """A prompt with an image."""
        return [
            UserMessage(role="user", content=ImageContent(type="image", data=PNG_1X1, mime_type="image/png")),
            UserMessage(role="user", content=TextContent(type="text", text="Please analyze the image above.")),
        ]

    @mcp.prompt(name=prefix + "input_required_result_prompt")
    async def irr_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
        """A prompt that needs user input first (2026-07-28)."""
        responses = ctx.input_responses
        if responses and "user_context" in responses:
            text = elicited(responses["user_context"], "context") or "?"
            return [UserMessage(role="user", content=TextContent(type="text", text=f"Use the following context: {text}"))]
        return InputRequiredResult(input_requests={"user_context": ask("What context should the prompt use?", "context")})

    @mcp.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        options = ["paris", "park", "parse"] if argument.name == "arg1" else []
        values = [v for v in options if v.startswith(argument.value or "")]
        return Completion(values=values, total=len(values), has_more=False)

    # ---- legacy-era methods ----------------------------------------------------------
    subscriptions: set[str] = set()

    async def set_level(ctx: ServerRequestContext, params: SetLevelRequestParams) -> EmptyResult:
        return EmptyResult()

    async def subscribe(ctx: ServerRequestContext, params: SubscribeRequestParams) -> EmptyResult:
        subscriptions.add(str(params.uri))
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: UnsubscribeRequestParams) -> EmptyResult:
        subscriptions.discard(str(params.uri))
        return EmptyResult()

    lowlevel = mcp._lowlevel_server  # noqa: SLF001 - MCPServer has no public hook for these
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    return mcp


def add_json_schema_tool(mcp: MCPServer, name: str) -> None:
    @mcp.tool(name=name)
    def schema_tool() -> str:
        """Carries a JSON Schema 2020-12 input schema with $defs, $ref, if/then/else."""
        return "ok"

    mcp._tool_manager._tools[name].parameters = JSON_SCHEMA_2020_12  # noqa: SLF001 - no public override


def build_tasks(prefix: str = "") -> MCPServer:
    """The tools the suite's tasks-* scenarios call, as plain tools: Baton (server `tasks`,
    `namespace: false`, `task_support` per tool) is what runs them as tasks."""
    mcp = MCPServer(name="baton-conformance-fixture-tasks", version="1.0.0")

    def tool(name: str):
        return mcp.tool(name=prefix + name)

    @tool("greet")
    def greet(name: str = "World") -> str:
        """Sync-only: says hello."""
        return f"Hello, {name}!"

    @tool("slow_compute")
    async def slow_compute(seconds: float = 1, label: str = "") -> str:
        """Sleeps `seconds`, then answers (cancelled with the call)."""
        await asyncio.sleep(seconds)
        return f"computed {label} after {seconds}s"

    @tool("failing_job")
    async def failing_job() -> str:
        """Fails as a tool (isError) after about a second."""
        await asyncio.sleep(1)
        raise ValueError("failing_job always fails")

    @tool("protocol_error_job")
    async def protocol_error_job() -> str:
        """Fails with a JSON-RPC error (a protocol error, not a tool error)."""
        raise MCPError(code=-32603, message="protocol_error_job broke")

    @tool("confirm_delete")
    async def confirm_delete(ctx: Context, path: str = "/tmp/x") -> str | InputRequiredResult:
        """Asks for a confirmation before answering."""
        responses = ctx.input_responses
        if responses and "confirm" in responses:
            return f"deleted {path}" if elicited(responses["confirm"], "confirm") else "kept"
        return InputRequiredResult(input_requests={"confirm": ask(f"Delete {path}?", "confirm", "boolean")})

    @tool("multi_input")
    async def multi_input(ctx: Context) -> str | InputRequiredResult:
        """Asks two questions at once; answers when both are answered."""
        responses = ctx.input_responses or {}
        if "first" in responses and "second" in responses:
            names = [elicited(responses[key], "name") for key in ("first", "second")]
            return f"got {names[0]} and {names[1]}"
        return InputRequiredResult(input_requests={"first": ask("First name?"), "second": ask("Second name?")})

    @tool("test_tool_with_task")
    async def test_tool_with_task(ctx: Context) -> str | InputRequiredResult:
        """One elicitation round, then the answer."""
        responses = ctx.input_responses
        if responses and "user_name" in responses:
            return f"Hello, {elicited(responses['user_name'], 'name') or 'stranger'}!"
        return InputRequiredResult(input_requests={"user_name": ask("What is your name?")})

    return mcp


def build_json() -> MCPServer:
    """Only the JSON Schema 2020-12 tool (behind Baton: server `json`, tool `schema_2020_12_tool`)."""
    mcp = MCPServer(name="baton-conformance-fixture-json", version="1.0.0")
    add_json_schema_tool(mcp, "schema_2020_12_tool")
    return mcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="", help="prefix for tool and prompt names (direct runs: test_)")
    parser.add_argument("--only", choices=["json", "tasks"], help="serve only the JSON Schema 2020-12 tool, or only the tasks scenarios' tools")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args()
    if args.only == "json":
        mcp = build_json()
    elif args.only == "tasks":
        mcp = build_tasks()
    else:
        mcp = build(args.prefix)
        if args.prefix:  # a direct run: one server has every name the suite calls
            add_json_schema_tool(mcp, "json_schema_2020_12_tool")
    if args.http:
        mcp.run(transport="streamable-http", host="127.0.0.1", port=args.http)
    else:
        mcp.run(transport="stdio")


if __name__ == "__main__":
    main()
