"""A Lambda function URL on loopback, for tests: each HTTP request becomes a payload-2.0 event
for a handler called in-process, and its answer (or its failure, as 502) goes back as the
function URL would send it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tiqets_tracker_local.servers import LoopbackServer, Running

FunctionHandler = Callable[[dict[str, Any], object], dict[str, Any]]


class _Server(LoopbackServer):
    def __init__(self, handler: FunctionHandler) -> None:
        self.function_handler = handler
        super().__init__(("127.0.0.1", 0), _Request)


class _Request(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._invoke("GET")

    def do_POST(self) -> None:
        self._invoke("POST")

    def _invoke(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = {
            "version": "2.0",
            "rawPath": parts.path,
            "rawQueryString": parts.query,
            "headers": {name.lower(): value for name, value in self.headers.items()}
            | {"x-forwarded-proto": "http"},
            "requestContext": {
                "domainName": self.headers.get("Host", ""),
                "http": {"method": method, "path": parts.path},
            },
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        try:
            answer = self.server.function_handler(event, None)
        except Exception:  # a function URL answers a failed run with 502
            answer = {
                "statusCode": 502,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"Message": "Internal Server Error"}),
            }
        raw = answer.get("body", "")
        data = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        self.send_response(int(answer["statusCode"]))
        for name, value in answer.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EmulatedFunctionUrl(Running):
    def __init__(self, handler: FunctionHandler) -> None:
        self._server = _Server(handler)

    @property
    def url(self) -> str:
        """The function URL, ending in a slash as AWS's do."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> None:
        self._server.serve_in_thread("function-url", poll_interval=0.02)

    def stop(self) -> None:
        self._server.stop_serving()
