"""Step Functions: where moto's interpreter differs from AWS's documented behaviour.

StopExecution: AWS reports the execution ABORTED at once, whatever state it is in (a running
Task's result is dropped). moto's interpreter reflects the stop only when the current state
returns, so an execution stopped during a long Task (deployment-status watching a deployment)
would read RUNNING until then. The stop is recorded at once here.
"""

from __future__ import annotations

import datetime
from typing import Any


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
