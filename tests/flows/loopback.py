"""A test HTTP server on a free loopback port, served from a daemon thread inside a ``with``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["LoopbackServer"]


class LoopbackServer:
    """Base of the recorded-API servers: ``_serve`` binds the port, ``with`` runs it."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], *, owner_attribute: str) -> None:
        """Bind ``handler`` to a free port; it reaches ``self`` as ``server.<owner_attribute>``."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        setattr(self._server, owner_attribute, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
