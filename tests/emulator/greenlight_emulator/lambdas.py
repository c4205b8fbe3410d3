"""Lambda: function binaries run as real processes behind the Lambda Runtime API, and moto's
Invoke is forwarded to them.

Each registered function gets its own runtime-API host on 127.0.0.1 (the runtime API has fixed
paths, so one port per function) and a process, started with the environment Lambda gives
(`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, …). Like Lambda, it scales out: an
invocation that finds every process busy starts another one (up to `MAX_INSTANCES`), all of them
asking the same runtime API for work. A function error reaches the caller as Lambda reports it: the
`X-Amz-Function-Error: Unhandled` header and the function's `{errorType, errorMessage}` body.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import ACCOUNT_ID

RUNTIME_PREFIX = "/2018-06-01/runtime/"
# Concurrent instances of one function: enough for the tests' bursts of pushes.
MAX_INSTANCES = 8


class Invocation:
    def __init__(self, payload: bytes, timeout_s: float):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.deadline_ms = int((time.time() + timeout_s) * 1000)
        self.done = threading.Event()
        self.error: str | None = None
        self.result: bytes = b""
        # When the function took the invocation (GET next) and answered it: its billed time.
        self.taken: float | None = None
        # The execution environment that took it; a timed-out invocation is given to no one.
        self.environment: Environment | None = None
        self.timed_out = False


class Environment:
    """One execution environment: a process of the function and the runtime API it asks for
    work on (its own port, so the emulation knows which process took which invocation)."""

    def __init__(self, function: Function):
        self.function = function
        self.was_reset = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), function._handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        env = dict(os.environ)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "emulator",
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                # Each function signs with its own key, as each has its own role on Lambda; the
                # emulation records which AWS calls each one makes (calls.py).
                "AWS_ACCESS_KEY_ID": function.name,
                "AWS_SECRET_ACCESS_KEY": "emulated",
            }
        )
        env.update(function.env)
        # The child process keeps its own copy of the descriptor; ours is closed once it is handed over.
        with open(os.path.join(function.log_dir, f"{function.name}.log"), "ab") as log:
            self.process = subprocess.Popen(function.command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Ends the process at once (SIGKILL: nothing it was doing finishes) and its runtime API."""
        self.was_reset = True
        if self.alive():
            self.process.kill()
            self.process.wait()
        self.server.shutdown()
        self.server.server_close()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.server.shutdown()


class Function:
    """One function: its execution environments and its queue of invocations."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], region: str, timeout_s: float, log_dir: str):
        self.name = name
        self.command = command
        self.env = env
        self.region = region
        self.timeout_s = timeout_s
        self.log_dir = log_dir
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.invocations = 0
        self.errors = 0
        # Invocations that ran past the function's timeout (their environment was reset).
        self.timeouts = 0
        # Milliseconds from handing each invocation to the process to its answer, in order.
        self.durations_ms: list[float] = []
        self.environments: list[Environment] = []
        # Processes waiting in GET /invocation/next.
        self.idle = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    def start(self) -> None:
        self.environments.append(Environment(self))

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [e.process for e in self.environments if e.alive()]

    def stop(self) -> None:
        for environment in self.environments:
            environment.stop()

    def invoke(self, payload: bytes) -> tuple[str | None, bytes]:
        """Runs one invocation; returns (function error kind or None, response payload). Function
        errors are counted, as Lambda's `Errors` metric counts them."""
        error, result = self._invoke(payload)
        if error:
            with self.lock:
                self.errors += 1
        return error, result

    def _invoke(self, payload: bytes) -> tuple[str | None, bytes]:
        if not self.alive():
            if not (self.environments and self.environments[-1].was_reset):
                return "Unhandled", _error_body("Runtime.ExitError", f"the process of function {self.name} is not running")
            # The last environment was reset after a timeout: this invocation initializes a new one.
            with self.lock:
                self.start()
        inv = Invocation(payload, self.timeout_s)
        with self.lock:
            self.invocations += 1
            self.pending.put(inv)
            # Every process is busy: Lambda would start another instance.
            if self.pending.qsize() > self.idle and len(self.alive()) < MAX_INSTANCES:
                self.start()
        if not inv.done.wait(self.timeout_s):
            self._time_out(inv)
            return "Unhandled", _error_body("Sandbox.Timedout", f"Task timed out after {self.timeout_s:.2f} seconds")
        return inv.error, inv.result

    def _time_out(self, inv: Invocation) -> None:
        """The invocation ran past the function's timeout. "If the function times out or crashes
        during the Invoke phase, Lambda resets the execution environment": the runtime is shut
        down, whatever the handler was doing ends with it, and the next invocation initializes a
        new environment (Lambda Developer Guide, "Lambda execution environment lifecycle",
        Failures during the invoke phase). Its answer, if one still came, is refused."""
        with self.lock:
            inv.timed_out = True
            self.in_flight.pop(inv.request_id, None)
            self.timeouts += 1
            environment = inv.environment
        if environment is not None:
            environment.kill()

    def _handler(self, environment: Environment) -> type[BaseHTTPRequestHandler]:
        function = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != RUNTIME_PREFIX + "invocation/next":
                    return self._reply(404)
                with function.lock:
                    function.idle += 1
                try:
                    while True:
                        inv = function.pending.get()
                        with function.lock:
                            if not inv.timed_out:
                                inv.taken = time.monotonic()
                                inv.environment = environment
                                function.in_flight[inv.request_id] = inv
                                break
                finally:
                    with function.lock:
                        function.idle -= 1
                self._reply(
                    200,
                    inv.payload,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": function.arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path[len(RUNTIME_PREFIX) :].split("/")
                if parts[:1] == ["invocation"] and len(parts) == 3 and parts[2] in ("response", "error"):
                    with function.lock:
                        inv = function.in_flight.pop(parts[1], None)
                    if inv is None:
                        return self._reply(400, b'{"errorType":"InvalidRequestID"}')
                    inv.result = body
                    inv.error = "Unhandled" if parts[2] == "error" else None
                    if inv.taken is not None:
                        with function.lock:
                            function.durations_ms.append((time.monotonic() - inv.taken) * 1000)
                    inv.done.set()
                    return self._reply(202, b'{"status":"OK"}')
                if parts[:2] == ["init", "error"]:
                    return self._reply(202, b'{"status":"OK"}')
                self._reply(404)

        return Handler


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Functions:
    """The registry of function processes, by function name."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self.by_name: dict[str, Function] = {}

    def register(self, name: str, command: list[str], env: dict[str, str], region: str, timeout_s: float) -> Function:
        old = self.by_name.pop(name, None)
        if old:
            old.stop()
        fn = Function(name, command, env, region, timeout_s, self.log_dir)
        fn.start()
        self.by_name[name] = fn
        return fn

    def invoke(self, name_or_arn: str, payload: bytes) -> tuple[str | None, bytes]:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        fn = self.by_name.get(name)
        if fn is None:
            return "Unhandled", _error_body("ResourceNotFoundException", f"Function not found: {name}")
        return fn.invoke(payload)

    def invoke_async(self, name_or_arn: str, payload: bytes) -> None:
        threading.Thread(target=self.invoke, args=(name_or_arn, payload), daemon=True).start()

    def stop_all(self) -> None:
        for fn in self.by_name.values():
            fn.stop()

    def state(self) -> dict[str, Any]:
        return {
            n: {
                "invocations": f.invocations,
                "errors": f.errors,
                "timeouts": f.timeouts,
                "durations_ms": list(f.durations_ms),
                "pids": [p.pid for p in f.alive()],
                "running": bool(f.alive()),
            }
            for n, f in self.by_name.items()
        }


def patch_moto_invoke(functions: Functions) -> None:
    """moto's Lambda without Docker answers every Invoke with a canned payload; send each to the
    registered process instead (Step Functions' interpreter invokes through this path)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any) -> bytes:
        payload = body if isinstance(body, bytes) else (body or "{}").encode()
        if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
            functions.invoke_async(function_name, payload)
            return b""
        error, result = functions.invoke(function_name, payload)
        if error:
            response_headers["x-amz-function-error"] = error
        return result

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


def invoke_payload_check(app: Callable[..., Any]) -> Callable[..., Any]:
    """Lambda's Invoke takes a JSON payload: anything else (not JSON, not UTF-8) is refused
    before any function runs, with HTTP 400 `InvalidRequestContentException` ("The request body
    could not be parsed as JSON", Invoke's errors in the Lambda API reference)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and INVOKE_PATH.match(environ.get("PATH_INFO", "")):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                json.loads(body.decode("utf-8") if body else "{}")
            except ValueError as e:
                out = json.dumps({"Type": "User", "message": f"Could not parse request body into json: {e}"}).encode()
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/json"),
                        ("x-amzn-ErrorType", "InvalidRequestContentException"),
                        ("Content-Length", str(len(out))),
                    ],
                )
                return [out]
        return app(environ, start_response)

    return wsgi

