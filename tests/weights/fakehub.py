"""A stand-in for the Hugging Face Hub on 127.0.0.1, for download tests without network.

It serves HEAD and GET on /{repo_id}/resolve/{revision}/{path} the way the Hub does for what
huggingface_hub reads: X-Repo-Commit, ETag and X-Linked-Etag (the sha256 of an LFS file, the git blob
hash of a small one), X-Linked-Size, Range requests (206 + Content-Range), and 404 with X-Error-Code.
With ``redirect_lfs`` an LFS file is answered with a 302 to a second server (another origin, as
the Hub's CDN is) that serves the bytes. Faults can be injected: the first GET of a file cut off
half way, or a file served with other bytes than the ones its headers describe. Every request is
recorded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/cdn/(?P<repo>[^/]+/[^/]+)/(?P<path>.+)$")


@dataclass(frozen=True)
class Request:
    method: str
    repo_path: str
    range: str | None
    from_cdn: bool = False


@dataclass
class FakeHub:
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo_id -> path -> content
    cut_first_get: set[str] = field(default_factory=set)  # "repo/path" whose first GET stops half way
    corrupt: set[str] = field(default_factory=set)  # "repo/path" served with one byte flipped
    requests: list[Request] = field(default_factory=list)
    redirect_lfs: bool = False

    def add(self, repo_id: str, path: str, content: bytes) -> None:
        self.files.setdefault(repo_id, {})[path] = content

    def start(self) -> str:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, body=False)

            def do_GET(self) -> None:
                hub._serve(self, body=True)

        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def gets(self, repo_path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.repo_path == repo_path]

    def _serve(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        request_path = unquote(handler.path.split("?", 1)[0])
        match = _RESOLVE.match(request_path) or _CDN.match(request_path)
        repo_id, path = (match["repo"], match["path"]) if match else ("", "")
        key = f"{repo_id}/{path}"
        from_cdn = request_path.startswith("/cdn/")
        self.requests.append(Request(handler.command, key, handler.headers.get("Range"), from_cdn))
        if repo_id not in self.files:
            return _not_found(handler, "RepoNotFound")
        if path not in self.files[repo_id]:
            return _not_found(handler, "EntryNotFound")
        content = self.files[repo_id][path]
        lfs = not path.endswith(".json")
        etag = (
            hashlib.sha256(content).hexdigest()
            if lfs
            else hashlib.sha1(f"blob {len(content)}\0".encode() + content, usedforsecurity=False).hexdigest()
        )
        if lfs and self.redirect_lfs and not from_cdn:
            handler.send_response(302)
            handler.send_header("Location", f"{self.cdn_url}/cdn/{key}")
            handler.send_header("X-Repo-Commit", COMMIT)
            handler.send_header("ETag", f'"{etag}"')
            handler.send_header("X-Linked-Etag", f'"{etag}"')
            handler.send_header("X-Linked-Size", str(len(content)))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        served = content
        if key in self.corrupt:
            served = bytes([content[0] ^ 0xFF]) + content[1:]
        start = 0
        if body and (requested := handler.headers.get("Range")):
            start = int(re.fullmatch(r"bytes=(\d+)-", requested)[1])
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("ETag", f'"{etag}"')
        if lfs:
            handler.send_header("X-Linked-Etag", f'"{etag}"')
            handler.send_header("X-Linked-Size", str(len(content)))
        handler.send_header("Accept-Ranges", "bytes")
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        handler.send_header("Content-Length", str(len(content) - start))
        handler.end_headers()
        if not body:
            return
        if key in self.cut_first_get and len(self.gets(key)) == 1:
            # Promise the whole file, send half, hang up: the client sees a broken transfer.
            handler.wfile.write(served[start : len(content) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(served[start:])


def _not_found(handler: BaseHTTPRequestHandler, code: str) -> None:
    message = b"not found"
    handler.send_response(404)
    handler.send_header("X-Error-Code", code)
    handler.send_header("X-Repo-Commit", COMMIT)
    handler.send_header("Content-Length", str(len(message)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(message)
