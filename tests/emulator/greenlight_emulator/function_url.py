"""Lambda function URLs: `<endpoint>/lambda-url/<function>/<path>` reaches <function> with the
function URL event (payload format 2.0), as https://<id>.lambda-url.<region>.on.aws/<path> does,
and answers with the function's response."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from .lambdas import Functions

PREFIX = "/lambda-url/"


def handle(functions: Functions, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """Invokes the function the path names with the function URL event, and answers its response."""
    rest = environ["PATH_INFO"][len(PREFIX) :]
    name, _, sub = rest.partition("/")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = environ.get("QUERY_STRING", "")
    try:
        body_text, b64 = raw.decode(), False
    except UnicodeDecodeError:
        body_text, b64 = base64.b64encode(raw).decode(), True
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/" + sub,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()} or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": name,
            "domainName": f"{name}.lambda-url.us-east-1.on.aws",
            "domainPrefix": name,
            "http": {"method": environ["REQUEST_METHOD"], "path": "/" + sub, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body_text,
        "isBase64Encoded": b64,
    }
    error, result = functions.invoke(name, json.dumps(event).encode())
    if error:
        out = result or b'{"message":"Internal Server Error"}'
        start_response("502 Bad Gateway", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]
    resp = json.loads(result or b"{}")
    body = resp.get("body") or ""
    data = base64.b64decode(body) if resp.get("isBase64Encoded") else body.encode()
    status = int(resp.get("statusCode", 200))
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    hdrs = [(k, str(v)) for k, v in (resp.get("headers") or {}).items() if k.lower() != "content-length"]
    start_response(f"{status} {phrase}", hdrs + [("Content-Length", str(len(data)))])
    return [data]
