"""A clear refusal for request paths that no file can have.

gradio's file routes hand the path of a request to the operating system. A path holding a NUL
byte, or one longer than the system allows for a name or a path, then fails inside the route,
and the client gets a bare "500 Internal Server Error" (pathlib of Python 3.10 and 3.11 raises
where later versions answer False). Nothing is served either way; this answers 400 and says why.
"""

from __future__ import annotations

import errno

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def refusal(reason: str) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=400)


class RefuseUnusablePaths:
    """ASGI middleware around the app that serves the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\0" in scope["path"]:
            await refusal("a path cannot contain a NUL character")(scope, receive, send)
            return
        answered = False

        async def send_and_note(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except OSError as error:
            if answered or error.errno != errno.ENAMETOOLONG:
                raise
            await refusal("the path is longer than this system allows")(scope, receive, send)
