"""A small OTLP/HTTP trace receiver for the tracing tests, built on the official
`opentelemetry-proto` messages.

    python otlp_receiver.py        # prints "listening on http://127.0.0.1:PORT"

- POST /v1/traces: an ExportTraceServiceRequest (application/x-protobuf); every span is
  kept, flattened.
- GET /spans: the spans received so far, as a JSON array of objects with trace_id, span_id,
  parent_span_id (hex), name, kind (SERVER, CLIENT, INTERNAL, ...), attributes (a flat
  object), links (a list of {trace_id, span_id}) and service (the resource's service.name).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

LOCK = threading.Lock()
SPANS = []


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [value_of(v) for v in value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.values}
    if kind == "bytes_value":
        return value.hex()
    return value


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        if self.path != "/v1/traces":
            self.answer(404, b"", "text/plain")
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(data)
        received = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": Span.SpanKind.Name(span.kind).replace("SPAN_KIND_", ""),
                            "attributes": {kv.key: value_of(kv.value) for kv in span.attributes},
                            "links": [
                                {"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()}
                                for l in span.links
                            ],
                            "status": span.status.code,
                            "service": resource.get("service.name"),
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                        }
                    )
        with LOCK:
            SPANS.extend(received)
        self.answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        if self.path == "/spans":
            with LOCK:
                body = json.dumps(SPANS).encode()
            self.answer(200, body, "application/json")
        else:
            self.answer(404, b"", "text/plain")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
