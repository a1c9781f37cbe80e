"""Context prompts per label set (package data) and the chat messages built from them.

Training and the app build their conversations with the same `build_messages`, so the model
sees at run time exactly the text it was trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from cer_desktop.contracts import RecognizerError
from cer_desktop.labels import LabelSet

PROMPT_PACKAGE = "cer_desktop.resources.prompts"
LABELS_PLACEHOLDER = "{labels}"
_ID_RE = re.compile(r"^[a-z0-9_]+$")


class PromptError(RecognizerError):
    """A prompt template that does not exist or cannot be used."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A context prompt; `{labels}` in `text` is replaced by the label set's labels."""

    id: str
    text: str

    def __post_init__(self) -> None:
        if LABELS_PLACEHOLDER not in self.text:
            raise PromptError(f"prompt {self.id!r} has no {LABELS_PLACEHOLDER} placeholder")

    def render(self, label_set: LabelSet) -> str:
        """The prompt text for `label_set`: labels comma-separated, spelled as in labels.py."""
        return self.text.replace(LABELS_PLACEHOLDER, ", ".join(label_set.labels)).strip()


def available_prompts() -> list[str]:
    """Ids of the prompt templates shipped with the package."""
    root = resources.files(PROMPT_PACKAGE)
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".txt"))


def get_prompt(prompt_id: str = "default") -> PromptTemplate:
    """A shipped prompt template by id ("default", "raf_basic", "raf_compound", "c_expr")."""
    if not _ID_RE.match(prompt_id or ""):
        raise PromptError(f"invalid prompt id {prompt_id!r}")
    path = resources.files(PROMPT_PACKAGE).joinpath(f"{prompt_id}.txt")
    if not path.is_file():
        raise PromptError(
            f"no prompt template {prompt_id!r}; available: {', '.join(available_prompts())}"
        )
    return PromptTemplate(prompt_id, path.read_text(encoding="utf-8").strip())


def prompt_for(label_set: LabelSet) -> PromptTemplate:
    """The context prompt written for a label set (its "+neutral" variant shares it).

    Built-in sets have their own template; a custom list of labels gets the default one.
    """
    base = label_set.name.split("+", 1)[0]
    if _ID_RE.match(base) and base in available_prompts():
        return get_prompt(base)
    return get_prompt("default")


def build_messages(
    label_set: LabelSet, prompt: PromptTemplate, answer: str | None = None
) -> list[dict]:
    """Chat messages: the user turn (the prompt, then the image), plus the answer when training.

    The prompt comes before the face so that its tokens are the same for every face and frame:
    the scorer computes them once and reuses their KV cache. The answer must be one of the
    label set's labels, spelled exactly as in the set.
    """
    messages: list[dict] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": prompt.render(label_set)}, {"type": "image"}],
        }
    ]
    if answer is not None:
        if answer not in label_set.labels:
            raise PromptError(f"answer {answer!r} is not a label of {label_set.name!r}")
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def corpus_texts(label_sets: list[LabelSet] | None = None) -> list[str]:
    """Every shipped prompt rendered for every built-in label set, and every label alone.

    Used to train the tokenizers of the tiny test models, so prompts tokenise sensibly.
    """
    from cer_desktop.labels import BUILTIN

    sets = list(label_sets or BUILTIN.values())
    texts = []
    for pid in available_prompts():
        prompt = get_prompt(pid)
        texts += [prompt.render(s) for s in sets]
    texts += [label for s in sets for label in s.labels]
    return texts
