"""The review page served on loopback: starlette for the routes, uvicorn to run it.

- `GET /`: the page, gathered again whenever the files behind it changed.
- `GET /state`: `{"state": <fingerprint>}`, polled by the page every 2 s.
- `GET /media/<name>`: a file the page names (`page.media_files`), with HTTP
  Range (starlette's FileResponse answers `Range:` with 206), so players seek.
  A name not in that table is a 404: no URL is ever turned into a path.
- `POST /api/pick`, `POST /api/reject` (form: task, take, note): the actions
  the command line uses; the answer is `{"ok", "message"}` (400 when refused).

Only this machine's pages may use it: a request whose `Host` is not the address
the server listens on is refused (a DNS-rebinding page cannot read it), and so
is a POST from another origin (a web page cannot pick takes behind your back).
A storyboard that does not lint while it is being edited gives a page with its
problems, which reloads itself when they are fixed.
"""

from __future__ import annotations

import html
import socket
import sys
import threading
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from storyboard.errors import InputProblems, StoryboardError
from storyboard.lint.formatters import FORMATTERS
from storyboard.pipeline import compile_storyboard
from storyboard.review import actions
from storyboard.review.gather import Review, Workspace, gather
from storyboard.review.page import fingerprint, media_files, render_page


class ReviewState:
    """The last gathered review and the fingerprint it was gathered at: a page or a
    file request re-gathers only when the files behind it changed."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._review: Review | None = None
        self._at = ""

    def current(self) -> tuple[Review, str]:
        with self._lock:
            now = fingerprint(self.workspace, self._review)
            if self._review is None or now != self._at:
                self._review = gather(compile_storyboard(self.workspace.story_path), self.workspace)
                now = fingerprint(self.workspace, self._review)
                self._at = now
            return self._review, self._at

    def fingerprint(self) -> str:
        with self._lock:
            return fingerprint(self.workspace, self._review)


def create_app(workspace: Workspace, hosts: frozenset[str] = frozenset()) -> Starlette:
    """The app; `hosts`: the `Host` names it answers (the address it listens on);
    empty: any."""
    state = ReviewState(workspace)

    def index(request: Request) -> Response:
        try:
            review, at = state.current()
        except StoryboardError as exc:
            return HTMLResponse(_trouble_page(exc), status_code=503)
        return HTMLResponse(render_page(review, live=True, state=at))

    def current_state(request: Request) -> Response:
        return JSONResponse({"state": state.fingerprint()})

    def media(request: Request) -> Response:
        review, _ = state.current()
        source = media_files(review).get("media/" + request.path_params["name"])
        if source is None:
            return Response("not a file of this review\n", status_code=404)
        if isinstance(source, bytes):
            kind = "image/png" if source.startswith(b"\x89PNG") else "image/jpeg"
            return Response(source, media_type=kind)
        return FileResponse(source)

    async def act(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{request.headers.get('host', '')}":
            return JSONResponse({"ok": False, "message": "not this page's"}, status_code=403)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
        kind = request.path_params["action"]
        if kind not in ("pick", "reject"):
            return JSONResponse({"ok": False, "message": f"no action {kind!r}"}, status_code=404)
        task, take, note = (str(form.get(k) or "") for k in ("task", "take", "note"))
        try:
            task_id, number = actions.parse_take(task, take or None)
            do = actions.pick if kind == "pick" else actions.reject
            change = do(workspace, task_id, number, note or None)
        except StoryboardError as exc:
            return JSONResponse({"ok": False, "message": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "message": "; ".join(change.lines())})

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/state", current_state),
            Route("/media/{name:path}", media),
            Route("/api/{action:str}", act, methods=["POST"]),
        ]
    )
    if hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=sorted(hosts))
    return app


def _trouble_page(exc: StoryboardError) -> str:
    """The storyboard's problems (it is being edited, say), and a reload every 2 s."""
    problems = exc.problems if isinstance(exc, InputProblems) else None
    said = FORMATTERS["text"](problems, []) if problems is not None else str(exc)
    return (
        '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2">'
        "<title>storyboard review: problems</title>"
        "<p>The storyboard does not compile now; this page reloads itself.</p>"
        f"<pre>{html.escape(said)}</pre>"
    )


def serve(workspace: Workspace, host: str, port: int) -> None:
    """Serve until interrupted; the URL goes to stderr (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # from here a browser's connection waits in the backlog, never refused
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"review page on http://{shown}:{bound}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    # The Host header's name (starlette compares it without the port); an IPv6
    # address is not checked (its brackets defeat that comparison).
    hosts = frozenset() if ":" in host else frozenset({host, "localhost"} - {"0.0.0.0"})
    config = uvicorn.Config(create_app(workspace, hosts), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
