"""`RemoteRecognizer`: closed-set scoring by an OpenAI-compatible server, behind `Recognizer`.

Only the aligned face crop leaves the machine (a PNG data URL), inside the same prompt and
label set the local recognizer uses. A frame's requests (faces x labels in the exact mode) are
in flight together, up to `ServerConfig.in_flight`; the server's prefix cache shares the image
and prompt between a face's labels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.contracts import Face, Prediction
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.encoding import square_crops
from cer_desktop.recognition.lvlm.generation import parse_answer
from cer_desktop.recognition.lvlm.metadata import METADATA_FILE, AdapterMetadata, read_metadata
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, prompt_for
from cer_desktop.recognition.remote import protocol
from cer_desktop.recognition.remote.client import RemoteClient, RemoteError, ServerConfig
from cer_desktop.recognition.remote.probe import ServerInfo, probe_server

log = logging.getLogger(__name__)


class RemoteRecognizer:
    """Scores faces on a remote server. Construct off the UI thread: it probes the server.

    `mode` None uses the best the server allows (`ServerInfo.mode`); `prompt` None uses the
    prompt of `config.model_meta` (the served model's `cer_adapter.json`: also its crop size
    and label set), else the label set's own prompt (as the local recognizer without adapter
    metadata). `requests` counts the HTTP requests sent for predictions.
    """

    name = "remote"

    def __init__(
        self,
        config: ServerConfig,
        *,
        mode: str | None = None,
        prompt: PromptTemplate | None = None,
        crop_size: int = 224,
        threshold: float = 0.0,
        end_of_answer: str | None = None,
        info: ServerInfo | None = None,
        transport: Any = None,
    ) -> None:
        self.config = config
        self.metadata = _read_meta(config.model_meta)  # before connecting: a bad file fails fast
        if self.metadata is not None:
            prompt = prompt or self.metadata.to_prompt()
            crop_size = self.metadata.crop_size
        self.client = RemoteClient(config, transport=transport)
        try:
            self.info = info or probe_server(config, self.client, end_of_answer)
        except BaseException:
            self.client.close()
            raise
        self.mode = mode or self.info.mode
        if self.mode not in protocol.MODES:
            raise RemoteError(f"scoring mode {self.mode!r} unknown; choose {protocol.MODES}")
        if self.mode == "prompt_logprobs" and not self.info.prompt_logprobs:
            raise RemoteError(f"{config.url} returns no prompt log-probabilities: use first_token")
        self.prompt = prompt
        self.crop_size = crop_size
        self.threshold = threshold
        self.end_of_answer = end_of_answer or self.info.end_of_answer
        self.requests = 0
        # frames in flight at once (offline): each call's requests share the same pool of
        # `in_flight` connections, so the server never sees more than that
        self.max_concurrent_requests = config.in_flight
        self._lock = threading.Lock()
        self._call = threading.local()  # the cancel generation of this thread's predict
        self._prefix: dict[tuple[Any, ...], int] = {}
        self._prefix_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            config.in_flight, thread_name_prefix="cer-remote"
        )

    @property
    def label_set(self) -> LabelSet | None:
        """The label set the served model was trained on (None without `model_meta`)."""
        return self.metadata.to_label_set() if self.metadata else None

    def describe(self) -> str:
        return f"{self.info.describe()}; mode {self.mode}"

    def manifest(self) -> dict[str, Any]:
        out = {**self.info.manifest(), "scoring_mode": self.mode}
        if (md := self.metadata) is not None:
            out["model_meta"] = {
                "label_set": md.label_set, "prompt_id": md.prompt_id, "crop_size": md.crop_size
            }  # fmt: skip
        return out

    def _post(self, body: dict[str, Any], generation: int) -> Any:
        with self._lock:
            self.requests += 1
        return self.client.post("/chat/completions", body, generation)

    def _map(self, bodies: list[dict[str, Any]]) -> list[Any]:
        pool = self._pool
        if pool is None:
            raise RemoteError("the remote recognizer was closed")
        # the generation the predict began in: a cancel also stops requests still queued
        generation = getattr(self._call, "generation", None)
        if generation is None:
            generation = self.client.generation
        return list(pool.map(lambda body: self._post(body, generation), bodies))

    def prompt_for(self, label_set: LabelSet) -> PromptTemplate:
        """The prompt the faces are asked with for `label_set` (recorded in manifests)."""
        return self.prompt or prompt_for(label_set)

    _prompt = prompt_for

    def _prefix_len(self, crop: np.ndarray, url: str, label_set: LabelSet) -> int:
        """Tokens of image + prompt + assistant opening (same for every crop of one size)."""
        prompt = self._prompt(label_set)
        key = (label_set.labels, prompt.text, crop.shape)
        with self._prefix_lock:  # asked once, and through the pool: never over `in_flight`
            if key not in self._prefix:
                messages = protocol.chat_messages(label_set, prompt, url)
                answer = self._map([protocol.prefix_body(self.config.model, messages)])[0]
                self._prefix[key] = protocol.prompt_tokens(answer)
            return self._prefix[key]

    def log_likelihoods(
        self, crops: Sequence[np.ndarray], label_set: LabelSet, *, with_end: bool = True
    ) -> np.ndarray:
        """Per crop and label: the summed log-probability of the label's tokens and (unless
        `with_end` is False, a control for tests) the end-of-answer token. Exact mode only."""
        if self.mode != "prompt_logprobs":
            raise RemoteError(f"log-likelihoods need the prompt_logprobs mode, not {self.mode}")
        if not crops:
            return np.zeros((0, len(label_set)))
        prompt = self._prompt(label_set)
        urls = [protocol.image_data_url(c) for c in crops]
        prefix = self._prefix_len(crops[0], urls[0], label_set)
        end = self.end_of_answer if with_end else ""
        bodies = [
            protocol.label_body(
                self.config.model, protocol.chat_messages(label_set, prompt, u, label + end)
            )
            for u in urls
            for label in label_set.labels
        ]
        answers = self._map(bodies)
        n = len(label_set)
        out = np.zeros((len(crops), n))
        for k, answer in enumerate(answers):
            out[k // n, k % n] = protocol.answer_log_likelihood(answer, prefix)[0]
        return out

    def _probs(self, crops: list[np.ndarray], label_set: LabelSet) -> tuple[np.ndarray, list[bool]]:
        n = len(label_set)
        if self.mode == "prompt_logprobs":
            ll = self.log_likelihoods(crops, label_set)
            return protocol.softmax(ll), [False] * len(crops)
        prompt = self._prompt(label_set)
        messages = [
            protocol.chat_messages(label_set, prompt, protocol.image_data_url(c)) for c in crops
        ]
        if self.mode == "first_token":
            top = max(5, min(20, 2 * n))
            answers = self._map(
                [protocol.first_token_body(self.config.model, m, top) for m in messages]
            )
            ll = np.stack([protocol.first_token_scores(a, label_set.labels) for a in answers])
            return protocol.softmax(ll), [False] * len(crops)
        answers = self._map(
            [protocol.choice_body(self.config.model, m, label_set.labels) for m in messages]
        )
        probs = np.full((len(crops), n), 1.0 / n)
        unknown = []
        for i, answer in enumerate(answers):
            idx = parse_answer(protocol.choice_text(answer), label_set)
            if idx is not None:
                probs[i] = 0.0
                probs[i, idx] = 1.0
            unknown.append(idx is None)
        return probs, unknown

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        """One prediction per face; all requests of the frame in flight together."""
        if not faces:
            return []
        t0 = time.perf_counter()
        self._call.generation = self.client.generation
        try:
            probs, unknown = self._probs(square_crops(faces, self.crop_size), label_set)
        finally:
            self._call.generation = None
        latency = (time.perf_counter() - t0) * 1000.0
        return [
            Prediction(
                track_id=face.track_id,
                frame_id=face.frame_id,
                label_set=label_set,
                probs=tuple(float(x) for x in p),
                recognizer=self.name,
                latency_ms=latency,
                threshold=1.0 if unk else float(self.threshold),
            )
            for face, p, unk in zip(faces, probs, unknown, strict=True)
        ]

    def cancel(self) -> None:
        """End the requests in flight now (any thread): their `predict` raises
        `RequestCancelled` at once. Later calls work as before."""
        self.client.cancel()

    def close(self) -> None:
        """Cancel what is in flight, stop the request threads and close the connections.
        Returns at once even when the server hangs. Safe to call twice."""
        pool, self._pool = self._pool, None
        self.client.close()  # blocked reads end now, so the pool's threads can be joined
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _read_meta(path: str) -> AdapterMetadata | None:
    """`cer_adapter.json` at `path` (the file or its folder); None for an empty path."""
    if not path:
        return None
    p = Path(path).expanduser()
    folder = p.parent if p.name == METADATA_FILE else p
    if not (folder / METADATA_FILE).is_file():
        raise RemoteError(f"model metadata {path}: no {METADATA_FILE} there")
    return read_metadata(folder)
