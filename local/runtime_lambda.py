"""In-process Lambda for moto: when moto invokes a function, run its real handler in this process.

moto without Docker cannot run a function (`LambdaFunction._invoke_lambda` starts a container). While a
LocalCloud runs, `moto_patches` hands every invocation (`LambdaFunction.invoke`) to the cloud's `LambdaHost`:
the Invoke API (and so Step Functions' Lambda tasks, the runtime's pollers, its schedules and its HTTP front)
and CloudFormation custom resources alike.

The function's code is found on disk, never unzipped from moto: a deployment registers the CDK asset folder of
each S3 object key (`register_asset`), and the function's `Code.S3Key` leads back to its folder. A function
created some other way (a ZipFile through the API) is unzipped once into a temporary folder. The handler module
is loaded from that folder under a unique module name, with the folder first on `sys.path` while it imports and
while it runs (as in /var/task), so `functions/select/handler.py` loads as, say, `_rc_fn_1a2b3c_handler` and a
folder named `select` never reaches `sys.path`. Modules the handler imports from its own folder are kept per
function, out of `sys.modules` between invocations, so two functions' `util.py` never collide.

Layers are not loaded: the layer's code (the domain package and its dependencies) is already importable here.

Invocations are serialised by one lock: during a call the function's environment is applied to `os.environ`
and restored afterwards. The result is returned as Lambda does: the JSON of the handler's return value, or an
error payload `{"errorMessage", "errorType", "requestId", "stackTrace"}` with the function-error flag set
(`X-Amz-Function-Error: Unhandled`), which Step Functions' Retry/Catch and the SQS poller read.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction

#: Applied over the function's own environment: there is no X-Ray daemon here.
_TRACE_DISABLED = {"POWERTOOLS_TRACE_DISABLED": "true"}
#: Invocations run one at a time; one waiting longer than this is reported as a local deadlock.
LOCK_TIMEOUT = 300.0


@dataclass(frozen=True)
class Invocation:
    """One handler run, kept for reports and tests."""

    function_name: str
    request_id: str
    started: float  # time.monotonic()
    duration_ms: float
    error_type: str | None


class LambdaContext:
    """The context object a Python handler receives."""

    def __init__(self, fn: LambdaFunction, request_id: str) -> None:
        self.function_name: str = fn.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = fn.function_arn
        self.memory_limit_in_mb = int(fn.memory_size or 128)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.function_name}"
        self.log_stream_name = f"local/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + float(fn.timeout or 3)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class _Loaded:
    handler: Callable[..., Any]
    module: Any
    folder: Path
    local_modules: dict[str, Any]  # modules imported from the function's own folder


class HandlerError(Exception):
    """A handler could not be found or loaded (reported as Lambda's Runtime.* errors)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _Release:
    """Release an already-acquired lock on exit."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put back the variables a call changed (None: was unset), leaving the others alone."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class _ThreadStdout(io.TextIOBase):
    """sys.stdout while a handler runs: the handler's thread writes to its buffer, every other thread (the
    runtime's clock printing a mail, a round) to the stream that was there before."""

    def __init__(self, buffer: io.StringIO, others: Any) -> None:
        self.buffer_of, self.thread, self.others = buffer, threading.get_ident(), others

    def _target(self) -> Any:
        return self.buffer_of if threading.get_ident() == self.thread else self.others

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def capture_stdout_of_this_thread(buffer: io.StringIO) -> Any:
    """What this thread prints goes to `buffer` (as a function's log); unlike `contextlib.redirect_stdout`,
    which swaps the process's stdout, another thread's prints meanwhile still reach the terminal."""
    others = sys.stdout
    sys.stdout = _ThreadStdout(buffer, others)
    try:
        yield buffer
    finally:
        sys.stdout = others


class LambdaHost:
    """Runs Python handlers in this process on behalf of moto's Lambda."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._folders_by_s3_key: dict[str, Path] = {}
        self._loaded: dict[tuple[str, str], _Loaded] = {}
        self._unzipped: dict[str, Path] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="relaycast-lambda-"))
        self.invocations: collections.deque[Invocation] = collections.deque(maxlen=100_000)
        self.unmetered: list[Invocation] = []  # not yet in CloudWatch (LocalCloud.publish_lambda_metrics)
        # What handlers print (EMF metrics, print()), per function, as CloudWatch Logs would keep it.
        self.output: dict[str, collections.deque[str]] = collections.defaultdict(lambda: collections.deque(maxlen=20_000))
        self.custom_resource_hook: Callable[[dict[str, Any]], None] | None = None

    # -- code ------------------------------------------------------------------------------------------------

    def register_asset(self, s3_key: str, folder: Path) -> None:
        """A CDK asset folder is the code of every function whose `Code.S3Key` is `s3_key`."""
        self._folders_by_s3_key[s3_key] = Path(folder).resolve()

    def asset_folder(self, s3_key: str) -> Path | None:
        """The asset folder registered for `s3_key`, if any."""
        return self._folders_by_s3_key.get(s3_key)

    def folder_of(self, fn: LambdaFunction) -> Path:
        s3_key = (fn.code or {}).get("S3Key")
        if s3_key in self._folders_by_s3_key:
            return self._folders_by_s3_key[s3_key]
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise HandlerError(
                "Runtime.ImportModuleError",
                f"no code for {fn.function_name}: S3 key {s3_key!r} is not a registered asset and the package is empty",
            )
        digest = hashlib.sha256(code).hexdigest()[:16]
        if digest not in self._unzipped:
            target = self._tmp / digest
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(target)
            self._unzipped[digest] = target
        return self._unzipped[digest]

    def load(self, fn: LambdaFunction) -> _Loaded:
        """Import the handler of `fn` (once per folder and handler string). Call with `lock` held."""
        folder = self.folder_of(fn)
        handler = fn.handler or ""
        key = (str(folder), handler)
        if key in self._loaded:
            return self._loaded[key]
        module_path, _, attribute = handler.rpartition(".")
        if not module_path or not attribute:
            raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack")
        relative = Path(*module_path.split("."))
        source = folder / relative.with_suffix(".py")
        if not source.is_file():
            source = folder / relative / "__init__.py"
        if not source.is_file():
            raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_path}': no {relative}.py in {folder}")
        unique = "_rc_fn_{}_{}".format(hashlib.sha1(str(key).encode()).hexdigest()[:10], module_path.replace(".", "_"))
        before = set(sys.modules)
        spec = importlib.util.spec_from_file_location(unique, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        dont_write = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # keep cdk.out's asset folders as synthesised
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(unique, None)
            self._take_local_modules(folder, before)
            raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {error!r}") from error
        finally:
            sys.dont_write_bytecode = dont_write
        local = self._take_local_modules(folder, before)
        if not hasattr(module, attribute):
            raise HandlerError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'")
        loaded = _Loaded(getattr(module, attribute), module, folder, local)
        self._loaded[key] = loaded
        return loaded

    @staticmethod
    def _take_local_modules(folder: Path, before: set[str]) -> dict[str, Any]:
        """Remove from sys.modules what was imported from `folder` since `before`; return it."""
        taken = {}
        prefix = str(folder) + os.sep
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None) or ""
            if not name.startswith("_rc_fn_") and origin.startswith(prefix):
                taken[name] = sys.modules.pop(name)
        return taken

    # -- running ---------------------------------------------------------------------------------------------

    def environment(self, fn: LambdaFunction) -> dict[str, str]:
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size or 128),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "_HANDLER": fn.handler or "",
        }
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        env.update(_TRACE_DISABLED)  # no X-Ray daemon here
        return env

    def run(self, fn: LambdaFunction, event: Any) -> tuple[bytes, bool]:
        """Run `fn` on `event`; return (payload, errored)."""
        request_id = str(uuid.uuid4())
        runtime = (fn.run_time or "").lower()
        if isinstance(event, dict) and {"RequestType", "ResponseURL", "StackId"} <= set(event) and not runtime.startswith("python"):
            # A CloudFormation custom resource served by a non-Python provider (CDK's Node handlers): answer SUCCESS.
            if self.custom_resource_hook is not None:
                self.custom_resource_hook(event)
            return b"{}", False
        if not runtime.startswith("python"):
            return self._error_payload(request_id, "Runtime.InvalidRuntime", f"runtime {fn.run_time!r} cannot run in-process"), True
        started = time.monotonic()
        error_type = None
        if not self.lock.acquire(timeout=LOCK_TIMEOUT):
            return self._error_payload(
                request_id,
                "Runtime.LocalDeadlock",
                f"{fn.function_name} waited {LOCK_TIMEOUT:.0f}s for the in-process Lambda lock: a handler invoking "
                "another function synchronously (or sending to a queue moto delivers itself) deadlocks locally",
            ), True
        with _Release(self.lock):
            environment = self.environment(fn)
            saved_env = {k: os.environ.get(k) for k in environment}
            saved_path = list(sys.path)
            loaded = None
            try:
                folder = self.folder_of(fn)
                os.environ.update(environment)
                sys.path.insert(0, str(folder))
                loaded = self.load(fn)
                sys.modules.update(loaded.local_modules)
                before_call = set(sys.modules)
                context = LambdaContext(fn, request_id)
                printed = io.StringIO()
                try:
                    with capture_stdout_of_this_thread(printed):
                        result = loaded.handler(event, context)
                finally:
                    self.output[fn.function_name].extend(printed.getvalue().splitlines())
                try:
                    payload = json.dumps(result).encode()
                except (TypeError, ValueError) as error:
                    error_type = "Runtime.MarshalError"
                    payload = self._error_payload(request_id, error_type, f"Unable to marshal response: {error}")
            except HandlerError as error:
                error_type = error.error_type
                payload = self._error_payload(request_id, error_type, str(error))
            except Exception as error:  # the handler raised: Lambda's "Unhandled" function error
                error_type = type(error).__name__
                frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
                payload = self._error_payload(request_id, error_type, str(error), frames)
            finally:
                if loaded is not None:
                    for name in list(loaded.local_modules):
                        loaded.local_modules[name] = sys.modules.pop(name, loaded.local_modules[name])
                    # Modules the handler imported lazily from its own folder during this call.
                    loaded.local_modules.update(self._take_local_modules(loaded.folder, before_call))
                sys.path[:] = saved_path
                restore_environ(saved_env)
        invocation = Invocation(fn.function_name, request_id, started, (time.monotonic() - started) * 1000, error_type)
        self.invocations.append(invocation)
        self.unmetered.append(invocation)
        return payload, error_type is not None

    @staticmethod
    def _error_payload(request_id: str, error_type: str, message: str, tb: Any = None) -> bytes:
        return json.dumps(
            {
                "errorMessage": message,
                "errorType": error_type,
                "requestId": request_id,
                "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in (tb or [])],
            }
        ).encode()

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._loaded.clear()
