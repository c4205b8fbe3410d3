"""Step Functions: where moto's interpreter differs from AWS's documented behaviour.

StopExecution: AWS reports the execution ABORTED at once, whatever state it is in (a running
Task's result is dropped). moto's interpreter reflects the stop only when the current state
returns, so an execution stopped during a long Task (deployment-status watching a deployment)
would read RUNNING until then. The stop is recorded at once here.

Retry: the interpreter computes each retrier's wait as AWS documents it (IntervalSeconds, times
BackoffRate per attempt, capped by MaxDelaySeconds, FULL jitter drawing from zero to that) and
sleeps it. With `--retry-time-scale F` (default 1, AWS's seconds) the sleep is that wait times
F, so that runs which fail on purpose many times (`cargo xtask reliability`) keep the same
sequence of attempts in less time.
"""

from __future__ import annotations

import datetime
from typing import Any


def scale_retry_waits(scale: float) -> None:
    if scale == 1.0:
        return
    import time
    import types

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    def sleep(seconds: float) -> None:
        time.sleep(seconds * scale)

    setattr(retrier_decl, "time", types.SimpleNamespace(sleep=sleep))  # noqa: B010 - the module's only use of `time`, replaced


def patch_stop_execution() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.stop

    def stop(self: Any, stop_date: datetime.datetime, error: str | None, cause: str | None) -> None:
        original(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    Execution.stop = stop  # type: ignore[method-assign]  # moto's method, replaced on purpose
