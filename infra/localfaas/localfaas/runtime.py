"""Lambda runtime emulation: import a function's handler with its environment and call it.

Shared result type here; the runtimes themselves (in-process and worker-process) follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class InvocationResult:
    function_name: str
    request_id: str
    payload: Any = None
    # Lambda-shaped error: {"errorMessage", "errorType", "requestId", "stackTrace"}; None on success.
    error: dict[str, Any] | None = None
    logs: str = ""
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on a cold start only

    @property
    def ok(self) -> bool:
        return self.error is None


class Runtime(Protocol):
    def invoke(self, function: Any, event: Any, *, request_id: str | None = None) -> InvocationResult:
        """Run `function` (a template.FunctionSpec) synchronously on `event`."""

    def close(self) -> None: ...
