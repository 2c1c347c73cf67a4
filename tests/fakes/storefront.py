"""A shop's own web server on its own origin: the pages a test writes, and what it was asked.

    with Storefront() as shop:
        shop.pages["/"] = ("text/html", "<script src=...></script>")
        shop.origin                     # http://127.0.0.1:<port>
        shop.requests                   # paths requested, in order

Browser tests serve the storefront page and the shop's one-line service worker from here,
so the engine's scripts really run cross-origin, as on a real shop.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Storefront:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, str]] = {}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self._server is not None, "storefront not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                shop.requests.append(self.path)
                content_type, body = shop.pages.get(path, ("text/plain", "not found"))
                data = body.encode()
                self.send_response(200 if path in shop.pages else 404)
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Storefront:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
