"""The attention mask of the single-pass scorer: the prompt, then every label prefix as a tree.

Rows are the tokens run in the pass (the prompt after its cached static part, then one token
per trie prefix); columns are every token the pass attends to (static part, prompt, prefixes).
Each prefix token sees the whole prompt, its ancestors and itself. The prompt is causal, except
that runs of image tokens may see each other both ways (Gemma 3): a 4-D mask replaces the
model's own, so whatever the model would add to causality has to be here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cer_desktop.recognition.lvlm.trie import LabelTrie


def image_blocks(token_types: Any) -> list[tuple[int, int]]:
    """[start, end) of each run of image tokens (type 1) in one row of token types."""
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    row = [int(t) for t in token_types.tolist()]
    for i, t in enumerate([*row, 0]):
        if t == 1 and start is None:
            start = i
        elif t != 1 and start is not None:
            blocks.append((start, i))
            start = None
    return blocks


def tree_mask(
    length: int,
    static: int,
    trie: LabelTrie,
    dtype: Any,
    device: Any,
    blocks: Sequence[tuple[int, int]] = (),
) -> Any:
    """The additive float mask (q, kv): 0 where attention is allowed, the dtype's minimum not.

    `length` is the prompt's length including the `static` tokens served from the cache;
    `blocks` are the image runs (positions in the whole prompt) that attend both ways.
    """
    import torch

    nodes = trie.prefixes
    index = {p: i for i, p in enumerate(nodes)}
    chunk = length - static
    q, kv = chunk + len(nodes), length + len(nodes)
    allowed = torch.zeros(q, kv, dtype=torch.bool, device=device)
    allowed[:chunk, :static] = True
    allowed[:chunk, static:length] = torch.ones(chunk, chunk, device=device).tril().bool()
    for start, end in blocks:  # an image block sees all of itself
        allowed[max(start, static) - static : end - static, start:end] = True
    allowed[chunk:, :length] = True
    for j, p in enumerate(nodes):
        for k in range(1, len(p) + 1):
            allowed[chunk + j, length + index[p[:k]]] = True
    mask = torch.zeros(q, kv, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask
