"""`probe_server`: what a server is, whether it serves the model, and which scoring it allows.

Run once when connecting (Qt-free, so the model dialog and the command line share it): the
models list, the engine's version, one tiny text-only request that asks for prompt
log-probabilities and first-token log-probabilities together, and the end-of-answer text from
the server's own chat template (vLLM's `/tokenize`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cer_desktop.recognition.remote.client import (
    RemoteClient,
    RemoteError,
    ServerConfig,
    ServerFailed,
    UnknownModel,
)

log = logging.getLogger(__name__)

DEFAULT_END_OF_ANSWER = "<|im_end|>"  # Qwen2-VL's; used when the server cannot tell
_SENTINEL = "QqZzANSWERzZqQ"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `probe_server` found. `mode` is the best scoring the server allows."""

    url: str
    model: str
    engine: str  # e.g. "vllm 0.32.0"
    models: tuple[str, ...]
    prompt_logprobs: bool
    first_token_logprobs: bool
    mode: str  # "prompt_logprobs", "first_token" or "choice"
    end_of_answer: str
    end_of_answer_source: str  # "server" (read from its template) or "default"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        return f"{self.model} @ {self.url} ({self.engine}; scoring: {self.mode})"

    def manifest(self) -> dict[str, Any]:
        """What a session manifest records about the server (never the key)."""
        return {
            "server": self.url,
            "served_model": self.model,
            "engine": self.engine,
            "scoring_mode": self.mode,
            "exact": self.mode == "prompt_logprobs",
            "end_of_answer": self.end_of_answer,
        }


def _root(url: str) -> str:
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _engine(client: RemoteClient, models: list[dict[str, Any]], model: str) -> str:
    owner = next((str(m.get("owned_by", "")) for m in models if m.get("id") == model), "")
    try:
        version = client.get(_root(client.config.url) + "/version")
    except RemoteError:
        version = None
    if isinstance(version, dict) and version.get("version"):
        return f"{owner or 'server'} {version['version']}".strip()
    return owner or "unknown"


def _end_of_answer(client: RemoteClient, model: str) -> str | None:
    """The text the server's chat template puts after an answer, up to its first special token."""
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": _SENTINEL},
    ]
    url = _root(client.config.url) + "/tokenize"
    try:
        whole = client.post(
            url,
            {
                "model": model,
                "messages": messages,
                "add_generation_prompt": False,
                "return_token_strs": True,
            },
        )
        cut = client.post(
            url,
            {
                "model": model,
                "messages": messages,
                "add_generation_prompt": False,
                "continue_final_message": True,
                "return_token_strs": True,
            },
        )
    except RemoteError as exc:
        log.info("no /tokenize on %s (%s); end of answer by default", client.config.url, exc)
        return None
    strs_whole, strs_cut = whole.get("token_strs"), cut.get("token_strs")
    if not isinstance(strs_whole, list) or not isinstance(strs_cut, list):
        return None
    if strs_whole[: len(strs_cut)] != strs_cut or len(strs_whole) == len(strs_cut):
        return None
    tail = [str(s) for s in strs_whole[len(strs_cut) :]]
    for i, s in enumerate(tail):
        if s.startswith("<") and s.endswith(">") and len(s) > 2:  # <|im_end|>, </s>, <end_of_turn>
            return "".join(tail[: i + 1])
    return tail[0] or None


def probe_server(
    config: ServerConfig, client: RemoteClient | None = None, end_of_answer: str | None = None
) -> ServerInfo:
    """Connect to `config`'s server and find what it supports; raises `RemoteError` subclasses.

    Wrong URL or a server that is down: `ServerUnreachable`; a refused key: `Unauthorized`;
    a model it does not serve: `UnknownModel` (the message lists the served ones).
    """
    own = client is None
    client = client or RemoteClient(config)
    try:
        listing = client.get("/models")
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise ServerFailed(f"{config.url}/models did not list models: not an OpenAI API?")
        ids = tuple(str(m.get("id")) for m in data if isinstance(m, dict))
        if config.model not in ids:
            raise UnknownModel(
                f"the server at {config.url} does not serve {config.model!r}; it serves: "
                f"{', '.join(ids) or 'nothing'}"
            )
        engine = _engine(client, data, config.model)
        probe = client.post(
            "/chat/completions",
            {
                "model": config.model,
                "messages": [
                    {"role": "user", "content": "Answer yes or no."},
                    {"role": "assistant", "content": "yes"},
                ],
                "add_generation_prompt": False,
                "continue_final_message": True,
                "prompt_logprobs": 0,
                "logprobs": True,
                "top_logprobs": 1,
                "max_tokens": 1,
                "temperature": 0.0,
            },
        )
        entries = probe.get("prompt_logprobs") if isinstance(probe, dict) else None
        has_prompt = isinstance(entries, list) and any(isinstance(e, dict) for e in entries)
        try:
            content = probe["choices"][0]["logprobs"]["content"]
            has_first = bool(content) and "top_logprobs" in content[0]
        except (KeyError, IndexError, TypeError):
            has_first = False
        notes = []
        eoa, source = end_of_answer, "given"
        if eoa is None:
            eoa, source = _end_of_answer(client, config.model), "server"
            if eoa is None:
                eoa, source = DEFAULT_END_OF_ANSWER, "default"
                if has_prompt:
                    notes.append(f"the server did not say how its answers end; assuming {eoa!r}")
        mode = "prompt_logprobs" if has_prompt else ("first_token" if has_first else "choice")
        if mode != "prompt_logprobs":
            notes.append(f"no prompt log-probabilities: scoring by {mode} (not exact)")
        return ServerInfo(
            url=config.url,
            model=config.model,
            engine=engine,
            models=ids,
            prompt_logprobs=has_prompt,
            first_token_logprobs=has_first,
            mode=mode,
            end_of_answer=eoa,
            end_of_answer_source=source,
            notes=tuple(notes),
        )
    finally:
        if own:
            client.close()
