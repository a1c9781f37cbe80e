"""A fake Hugging Face hub on 127.0.0.1 that serves local folders as public model repos.

It answers just what `huggingface_hub.snapshot_download` (2.4) asks for a repo of plain git files
(no LFS, no Xet):

- `GET /api/models/{repo}/revision/{rev}`: repo info JSON; `snapshot_download` reads its `sha`.
- `GET /api/models/{repo}/tree/{rev}?recursive=True`: the file listing, one page (no `Link`
  header, so the client asks for no next page).
- `HEAD` and `GET /{repo}/resolve/{rev}/{path}`: the file, with the headers `get_hf_file_metadata`
  reads: `X-Repo-Commit` (required), `ETag` (the git blob id; required, it names the cached blob)
  and `Content-Length` (checked against the bytes received).

Errors look like the hub's: 404 with `X-Error-Code: RepoNotFound`, `RevisionNotFound` or
`EntryNotFound`, which `huggingface_hub.utils.hf_raise_for_status` turns into its typed errors.
Every request is recorded in `requests` as `(method, path)`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's contents (what the hub uses as a plain file's ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeRepo:
    """One folder as a model repo with a single commit."""

    def __init__(self, folder: Path) -> None:
        self.files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        self.oids = {path: git_blob_id(data) for path, data in self.files.items()}
        listing = "".join(f"{path} {oid}\n" for path, oid in sorted(self.oids.items()))
        self.sha = hashlib.sha1(listing.encode()).hexdigest()  # a stable 40-hex commit id

    def has_revision(self, revision: str) -> bool:
        return revision in ("main", self.sha)

    def tree(self, recursive: bool) -> list[dict]:
        entries: list[dict] = []
        folders = sorted({str(Path(p).parent.as_posix()) for p in self.files} - {"."})
        for folder in folders:
            if recursive or "/" not in folder:
                entries.append({"type": "directory", "oid": "0" * 40, "path": folder})
        for path, data in self.files.items():
            if recursive or "/" not in path:
                entries.append(
                    {"type": "file", "oid": self.oids[path], "size": len(data), "path": path}
                )
        return entries


class FakeHub:
    """`with FakeHub({"org/name": folder}) as hub:` serves the folders at `hub.url` until exit."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {repo_id: FakeRepo(Path(folder)) for repo_id, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def seen(self, method: str, prefix: str = "") -> list[str]:
        """Paths of the requests made with `method` whose path starts with `prefix`."""
        with self._lock:
            return [p for m, p in self.requests if m == method and p.startswith(prefix)]


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def _answer(self, with_body: bool) -> None:
            split = urlsplit(self.path)
            hub.record(self.command, unquote(split.path))
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            # split before unquoting: a revision such as "refs/pr/1" arrives as one %2F-quoted part
            parts = [unquote(part) for part in split.path.strip("/").split("/")]
            if parts[:2] == ["api", "models"] and len(parts) >= 6:
                repo_id, what, revision = "/".join(parts[2:4]), parts[4], parts[5]
                repo = self._repo(repo_id, revision)
                if repo is None:
                    return
                if what == "revision":
                    info = {"id": repo_id, "sha": repo.sha, "private": False, "gated": False}
                    info["siblings"] = [{"rfilename": p} for p in repo.files]
                    return self._json(info, with_body)
                if what == "tree" and len(parts) == 6:
                    recursive = query.get("recursive", "").lower() == "true"
                    return self._json(repo.tree(recursive), with_body)
            elif len(parts) >= 5 and parts[2] == "resolve":
                repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                repo = self._repo(repo_id, revision)
                if repo is None:
                    return
                if filename not in repo.files:
                    return self._error(404, "EntryNotFound", "Entry not found", repo.sha)
                data = repo.files[filename]
                self.send_response(200)
                self.send_header("X-Repo-Commit", repo.sha)
                self.send_header("ETag", f'"{repo.oids[filename]}"')
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)
                return
            self._error(404, None, "Not found")

        def _repo(self, repo_id: str, revision: str) -> FakeRepo | None:
            """The repo at `revision`, or None after answering 404 as the hub does."""
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
            elif not repo.has_revision(revision):
                self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
            else:
                return repo
            return None

        def _json(self, value: object, with_body: bool) -> None:
            body = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _error(self, status: int, code: str | None, message: str, commit: str = "") -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            if code is not None:
                self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
