"""A small OpenAI-compatible test server for the faults a real engine cannot produce on demand.

It speaks the parts of vLLM's API the remote recognizer uses (`/v1/models`, `/version`,
`/tokenize`, `/v1/chat/completions` with `prompt_logprobs`, `continue_final_message`,
`top_logprobs`, `structured_outputs`), with a fake tokenizer (words, spaces, punctuation and
`<|...|>` markers) and fake log-probabilities that depend on the image, the token and its
position, so a client that slices the answer wrongly gets different numbers
(`expected_log_likelihood` is the truth). Faults are attributes set by the test: `latency`
(seconds per request, served concurrently: the fixed-latency mode), `fail_next` (answer 500),
`drop_next` (close the connection without an answer), `api_key` (401 without it), `models`
(anything else is an unknown model), `prompt_logprobs` / `logprobs` (a server without them).
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

END = "<|im_end|>"
_TOKEN_RE = re.compile(r"<\|[a-z_]+\|>|\w+|\s+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def render(messages: list[dict[str, Any]], add_generation_prompt: bool, cont: bool) -> str:
    """A Qwen-style chat rendering; an image is `<|image_pad|>`; `cont` leaves the last turn open."""
    out = []
    for i, m in enumerate(messages):
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image_url":
                    parts.append("<|vision_start|><|image_pad|><|vision_end|>")
                else:
                    parts.append(str(p.get("text", "")))
            content = "".join(parts)
        last = i == len(messages) - 1
        close = "" if (cont and last) else f"{END}\n"
        out.append(f"<|im_start|>{m.get('role')}\n{content}{close}")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _image_key(messages: list[dict[str, Any]]) -> str:
    for m in messages:
        if isinstance(m.get("content"), list):
            for p in m["content"]:
                if p.get("type") == "image_url":
                    return hashlib.sha1(p["image_url"]["url"].encode()).hexdigest()
    return "text"


def fake_logprob(image: str, position: int, token: str) -> float:
    """Log-probability in [-3, -0.05] from the image, the token's position and its text."""
    h = hashlib.sha1(f"{image}|{position}|{token}".encode()).digest()
    return -0.05 - 2.95 * int.from_bytes(h[:4], "big") / 2**32


def expected_log_likelihood(
    data_url: str, prefix_messages: list[dict[str, Any]], answer: str
) -> float:
    """What the exact mode must compute for `answer` (label + end) after the prompt."""
    image = hashlib.sha1(data_url.encode()).hexdigest()
    prefix = tokenize(render(prefix_messages, True, False))
    full = tokenize(
        render([*prefix_messages, {"role": "assistant", "content": answer}], False, True)
    )
    return sum(fake_logprob(image, i, full[i]) for i in range(len(prefix), len(full)))


class FakeServer:
    """The server and its fault settings; `with FakeServer() as s: s.url`."""

    def __init__(self, models: tuple[str, ...] = ("tiny",)) -> None:
        self.models = list(models)
        self.latency = 0.0
        self.hang = False  # chat requests are accepted and read, and never answered
        self._release = threading.Event()  # ends the hung requests (close)
        self.fail_next = 0
        self.drop_next = 0
        self.api_key: str | None = None
        self.prompt_logprobs = True
        self.logprobs = True
        self.chat_requests = 0
        self.last_prompt = ""  # the last chat request's rendered text
        self.active = 0  # chat requests being served now; `max_active` the most at once
        self.max_active = 0
        self.seen_auth: list[str | None] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = self._handle_error  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="cer-fake-server", daemon=True
        )

    def _handle_error(self, request: object, client_address: object) -> None:
        # a client that cancels its requests (a live deadline, closing) cuts the connection
        # while an answer is written: expected here, not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            ThreadingHTTPServer.handle_error(self._httpd, request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def take(self, name: str) -> bool:
        """Consume one pending fault of `name` ("fail_next" or "drop_next")."""
        with self._lock:
            if getattr(self, name) > 0:
                setattr(self, name, getattr(self, name) - 1)
                return True
            return False

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("model") not in self.models:
            return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
        messages = body["messages"]
        cont = bool(body.get("continue_final_message"))
        text = render(messages, bool(body.get("add_generation_prompt", True)), cont)
        self.last_prompt = text
        tokens = tokenize(text)
        image = _image_key(messages)
        answer: dict[str, Any] = {
            "id": "fake",
            "object": "chat.completion",
            "model": body["model"],
            "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1},
        }
        if self.prompt_logprobs and body.get("prompt_logprobs") is not None:
            answer["prompt_logprobs"] = [None] + [
                {
                    str(1000 + i): {
                        "logprob": fake_logprob(image, i, t),
                        "rank": 1,
                        "decoded_token": t,
                    }
                }
                for i, t in enumerate(tokens)
                if i > 0
            ]
        choices = (body.get("structured_outputs") or {}).get("choice")
        content = "yes"
        if choices:  # the constrained answer: the choice the fake "model" likes best
            content = max(choices, key=lambda c: fake_logprob(image, 0, tokenize(c)[0]))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }
        if self.logprobs and body.get("logprobs"):
            words = sorted({t for c in _labels_of(text) for t in tokenize(c)[:1]})
            ranked = sorted(words, key=lambda w: -fake_logprob(image, 0, w))
            k = int(body.get("top_logprobs") or 1)
            top = [{"token": w, "logprob": fake_logprob(image, 0, w)} for w in ranked[:k]]
            first: dict[str, Any] = top[0] if top else {"token": "yes", "logprob": -0.1}
            choice["logprobs"] = {"content": [{**first, "top_logprobs": top}]}
        answer["choices"] = [choice]
        return 200, answer


def _labels_of(text: str) -> list[str]:
    """The label list a rendered prompt names (after its last colon, comma-separated)."""
    m = re.search(r":\s*([^:.]*)\.\s*Answer", text)
    return [s.strip() for s in m.group(1).split(",")] if m else ["yes", "no"]


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _guard(self) -> bool:
            auth = self.headers.get("Authorization")
            server.seen_auth.append(auth)
            if server.api_key is not None and auth != f"Bearer {server.api_key}":
                self._send(401, {"error": {"message": "Unauthorized"}})
                return False
            return True

        def do_GET(self) -> None:
            if not self._guard():
                return
            if self.path == "/v1/models":
                data = [{"id": m, "object": "model", "owned_by": "fake"} for m in server.models]
                self._send(200, {"object": "list", "data": data})
            elif self.path == "/version":
                self._send(200, {"version": "1.0"})
            else:
                self._send(404, {"error": {"message": "Not Found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._guard():
                return
            if self.path == "/tokenize":
                text = render(
                    body["messages"],
                    bool(body.get("add_generation_prompt")),
                    bool(body.get("continue_final_message")),
                )
                toks = tokenize(text)
                self._send(
                    200, {"tokens": list(range(len(toks))), "token_strs": toks, "count": len(toks)}
                )
                return
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "Not Found"}})
                return
            with server._lock:
                server.chat_requests += 1
                server.bodies.append(body)
                server.active += 1
                server.max_active = max(server.max_active, server.active)
            try:
                self._chat(body)
            finally:
                with server._lock:
                    server.active -= 1

        def _chat(self, body: dict[str, Any]) -> None:
            if server.hang:
                server._release.wait()
                self.close_connection = True
                return
            if server.latency:
                time.sleep(server.latency)
            if server.take("drop_next"):
                self.close_connection = True
                self.connection.close()
                return
            if server.take("fail_next"):
                self._send(500, {"error": {"message": "internal error (injected)"}})
                return
            self._send(*server.chat(body))

    return Handler
