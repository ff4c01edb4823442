"""What every concern of the stack builds on, handed to each construct as one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from constructs import Construct
from relaycast.config import EventConfig

from infra.function import FunctionCommons, RelaycastFunction
from infra.notices import Notices
from infra.storage import Storage


@dataclass(frozen=True)
class StackParts:
    """The event, its table, keys and secret, its mail identity, and what every function shares."""

    config: EventConfig
    storage: Storage
    notices: Notices
    commons: FunctionCommons

    def function(self, scope: Construct, id: str, name: str, does: str, *, memory_size: int, timeout: Duration,
                 handler: str = "handler.handler", **options: Any) -> RelaycastFunction:
        """The function `functions/<name>`, described as "relaycast: <does>"."""
        return RelaycastFunction(scope, id, name=name, handler=handler, commons=self.commons, description=f"relaycast: {does}",
                                 memory_size=memory_size, timeout=timeout, **options)
