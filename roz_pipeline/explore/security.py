"""What keeps the explorer's answers to themselves: the headers every response carries, and a clip file served
from the descriptor the store checked (clips/stores.py, LocalClipStore.opened)."""

import mimetypes
import os

from starlette.datastructures import MutableHeaders
from starlette.responses import FileResponse

# On every answer: only the explorer's own script, style and pictures run or load; no other site frames it or learns
# its addresses; a browser takes each answer for the type it says (an echoed question in JSON never runs as HTML).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class HeldFileResponse(FileResponse):
    """The file `name` served from a descriptor held open (and closed) by the response, with ranges for seeking;
    `path` opens that same file."""

    def __init__(self, descriptor: int, path: str, name: str):
        super().__init__(path, stat_result=os.fstat(descriptor), media_type=mimetypes.guess_type(name)[0])
        self.descriptor = descriptor

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.close(self.descriptor)


class SecurityHeaders:
    """SECURITY_HEADERS on every response, errors and static files included (pure ASGI: streamed files stay
    streamed)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
