"""The WebSocket stream: JSON messages per frame to every connected client (docs/streams.md).

The server runs an asyncio loop on its own thread. Each client has a bounded queue; a client
that falls `client_queue` messages behind is disconnected (close code 1013, "try again
later") and counted, so a slow client never holds up the others, the sender or the view.
The server binds 127.0.0.1 by default; any other address needs a token (`CER_STREAM_TOKEN`)
that clients send as `Authorization: Bearer <token>` in the handshake. A token set for
127.0.0.1 is required there too.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import threading
from http import HTTPStatus
from typing import Any

from cer_desktop.streams.config import StreamsError, is_loopback
from cer_desktop.streams.fanout import StreamOutput
from cer_desktop.streams.frame_data import FrameValues

log = logging.getLogger(__name__)
PATH = "/"
SEND_BUFFER = 64 * 1024


class WebSocketStream(StreamOutput):
    """Serves `FrameValues` as JSON "frame" messages (and "marker" messages) on host:port."""

    name = "websocket"

    def __init__(
        self,
        host: str,
        port: int,
        token: str = "",
        lsl_offset: float | None = None,
        client_queue: int = 128,  # ~4 s at 30 fps: a burst fits, a stalled client does not
        queue_size: int = 64,
    ) -> None:
        if not is_loopback(host) and not token:
            raise StreamsError(
                f"the WebSocket stream binds {host}, reachable from other machines: set "
                "CER_STREAM_TOKEN (clients send it as 'Authorization: Bearer <token>') or "
                "bind 127.0.0.1"
            )
        try:
            from websockets.asyncio.server import serve
        except ImportError as exc:
            raise StreamsError(
                f"WebSocket streaming needs the websockets package ({exc}): "
                "pip install 'cer-desktop[streams]'"
            ) from exc
        super().__init__(queue_size)
        self.host, self.port = host, port
        self._token = token
        self._lsl_offset = lsl_offset
        self._client_queue = client_queue
        self._clients: dict[Any, asyncio.Queue[str]] = {}
        self._close_reasons: dict[Any, tuple[int, str]] = {}
        self.clients_dropped = 0  # disconnected for being too slow
        self.clients_refused = 0  # wrong or missing token
        self.clients_served = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._bind_error: BaseException | None = None
        self._server: Any = None
        self._serve = serve
        self._loop_thread = threading.Thread(
            target=self._loop_main, name="cer-ws-server", daemon=True
        )
        self._loop_thread.start()
        self._ready.wait(10.0)
        if self._bind_error is not None:
            raise StreamsError(f"cannot serve WebSockets on {host}:{port}: {self._bind_error}")
        if self._server is not None and port == 0:  # an ephemeral port (tests): the real one
            self.port = int(self._server.sockets[0].getsockname()[1])

    # -- the asyncio side ----------------------------------------------------------------
    def _loop_main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen() -> Any:
            return await self._serve(
                self._handler,
                self.host,
                self.port,
                process_request=self._check_token,
                ping_interval=20,
                max_queue=4,  # clients send nothing but pings
            )

        try:
            self._server = self._loop.run_until_complete(listen())
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor
            self._bind_error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def _check_token(self, connection: Any, request: Any) -> Any:
        if not self._token:
            return None
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {self._token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        self.clients_refused += 1
        return connection.respond(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required\n")

    async def _handler(self, ws: Any) -> None:
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=self._client_queue)
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            # A small kernel send buffer: a stalled client is found after a few hundred kB
            # instead of the megabytes TCP's autotuning would otherwise hold for it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._clients[ws] = q
        self.clients_served += 1
        try:
            while True:
                message = await q.get()
                if not message:  # the empty string: this client is being dropped or closed
                    break
                await ws.send(message)
        except Exception:  # the client went away
            pass
        finally:
            self._clients.pop(ws, None)
            code, reason = self._close_reasons.pop(ws, (1001, "server closing"))
            try:
                await ws.close(code, reason)
            except Exception:  # the client is already gone
                pass

    def _broadcast(self, message: str) -> None:
        for ws, q in list(self._clients.items()):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:
                # Too slow: disconnect it. Emptying its queue first makes room for the
                # sentinel, so the handler ends as soon as its current send returns.
                self.clients_dropped += 1
                self._clients.pop(ws, None)
                self._close_reasons[ws] = (1013, "too slow: fell behind the live stream")
                while not q.empty():
                    q.get_nowait()
                q.put_nowait("")

    # -- the sender thread ---------------------------------------------------------------
    def _send(self, values: FrameValues) -> None:
        self.send_json(values.to_message(self._lsl_offset))

    def send_json(self, message: dict[str, Any]) -> None:
        """Send one message (thread-safe) to every client."""
        text = json.dumps(message, separators=(",", ":"))
        try:
            self._loop.call_soon_threadsafe(self._broadcast, text)
        except RuntimeError:  # the server closed meanwhile (a marker racing `close`)
            pass

    @property
    def consumers(self) -> int:
        return len(self._clients)

    def describe(self) -> str:
        return f"WebSocket ws://{self.host}:{self.port}"

    def _shutdown(self) -> None:
        async def stop() -> None:
            for q in list(self._clients.values()):
                while not q.empty():
                    q.get_nowait()
                q.put_nowait("")
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5.0)
            except Exception:
                log.warning("closing the WebSocket server took too long", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(5.0)
