"""ASGI middleware: each HTTP request runs under a deadline and a cancellation token.

The deadline and the token follow the request into its worker thread (context
variables, ``appliance.engine.deadline``), so engine waits end with 504
``deadline_exceeded`` instead of holding the thread, and work of a client that has
disconnected is dropped at once (499 ``client_closed_request``, which only logs and
metrics see) instead of when its deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from appliance.engine.deadline import Cancellation, deadline_scope


class DisconnectWatch:
    """Cancels a request's token when its client disconnects before the answer is sent.

    Once the app has read the whole body, a background task awaits the server's next
    message: for an HTTP/1.1 request the only one left is ``http.disconnect`` (sent when
    the client closes its connection). The app's own later ``receive`` calls share that
    task's message, so nothing is read twice and streaming responses still see it.
    """

    def __init__(self, receive: Receive) -> None:
        self.cancellation = Cancellation()
        self._receive = receive
        self._watcher: asyncio.Task[Message] | None = None
        self._answered = False

    async def receive(self) -> Message:
        """The app's ``receive``: the server's messages, watched."""
        if self._watcher is not None:
            return await asyncio.shield(self._watcher)
        message = await self._receive()
        self._observe(message)
        if message["type"] == "http.request" and not message.get("more_body", False):
            self._watcher = asyncio.create_task(self._watch())
        return message

    def send(self, send: Send) -> Send:
        """The app's ``send``: a disconnect after the whole answer went out cancels nothing."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._answered = True
            await send(message)

        return sending

    async def stop(self) -> None:
        """End the background watch (the app has returned)."""
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self) -> Message:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._observe(message)
                return message

    def _observe(self, message: Message) -> None:
        if message["type"] == "http.disconnect" and not self._answered:
            self.cancellation.cancel()


def deadline_middleware(seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: every HTTP request runs under a deadline of ``seconds``.

    Its cancellation token is set when the client disconnects (``DisconnectWatch``).
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            watch = DisconnectWatch(receive)
            with deadline_scope(seconds, watch.cancellation):
                try:
                    await app(scope, watch.receive, watch.send(send))
                finally:
                    await watch.stop()

        return wrapped

    return middleware
