"""CloudWatch's RPCv2 CBOR protocol, which aws-sdk-rust speaks and moto answers with 404.

A request to `/service/GraniteServiceVersion20100801/operation/<Operation>` is decoded from
CBOR and handed to moto as the equivalent awsJson 1.0 request (CloudWatch supports both); the
answer is encoded back to CBOR, timestamps as CBOR tag 1, guided by botocore's model of the
operation's output.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
TARGET = "GraniteServiceVersion20100801"

_model: Any = None


def _service_model() -> Any:
    global _model
    if _model is None:
        import botocore.session

        _model = botocore.session.get_session().get_service_model("cloudwatch")
    return _model


def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return float(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _to_cbor(value: Any, shape: Any) -> Any:
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {k: _to_cbor(v, shape.members.get(k)) for k, v in value.items() if k in shape.members}
    if kind == "list":
        return [_to_cbor(v, shape.member) for v in value]
    if kind == "map":
        return {k: _to_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value).timestamp()
        return cbor2.CBORTag(1, float(value))
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    return value


def middleware(app: Callable[..., Any]) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return app(environ, start_response)
        operation = path[len(PREFIX) :]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        request = _to_json(cbor2.loads(raw)) if raw else {}
        body = json.dumps(request).encode()
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{TARGET}.{operation}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = app(inner, capture)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = captured.get("status", "500 Internal Server Error")
        parsed = json.loads(data) if data.strip() else {}
        if status.startswith("2"):
            try:
                shape = _service_model().operation_model(operation).output_shape
            except Exception:  # noqa: BLE001 - an operation botocore's model lacks answers without a shape
                shape = None
            out = cbor2.dumps(_to_cbor(parsed, shape) if shape is not None else {})
        else:
            error_type = str(parsed.get("__type", "InternalFailure")).split("#")[-1]
            out = cbor2.dumps({"__type": error_type, "message": parsed.get("message", parsed.get("Message", ""))})
        start_response(
            status,
            [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(out)))],
        )
        return [out]

    return wsgi
