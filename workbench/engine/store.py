"""One store for the engine's observed state and events; subscribers get every event.

The control API's event stream and the headless printer both read from here; nothing polls a
runtime directly.
"""

from __future__ import annotations

import asyncio
from collections import deque

from workbench.contract import Failure
from workbench.state import EndpointState, Event, EventKind, EventSeverity

MAX_EVENTS = 1000


class Store:
    def __init__(self) -> None:
        self.endpoints: list[EndpointState] = []
        self.events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def endpoint(self, name: str) -> EndpointState | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def publish(
        self,
        kind: EventKind,
        subject: str,
        message: str,
        severity: EventSeverity = EventSeverity.INFO,
        *,
        failure: Failure | None = None,
    ) -> Event:
        event = Event(kind, subject, message, severity=severity, failure=failure)
        self.events.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        return event

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.discard(queue)
