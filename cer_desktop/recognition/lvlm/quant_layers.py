"""Which linear layers a 4-bit NF4 load keeps unquantised: those bitsandbytes cannot run.

bitsandbytes 0.50's CPU path repacks a 4-bit weight for its AVX512-BF16 kernel the first
time a layer runs in inference: in blocks of 32 output rows (a bare `AssertionError: N must
be divisible by block_n` otherwise) with one scale per 64 inputs (a `RuntimeError: shape
'[N, 0]' is invalid` when the inputs are not a multiple of 64; tried with 32, 48, 96, 200).
Qwen3.5's gated-DeltaNet `in_proj_a`/`in_proj_b` have one output row per value head (16 in
the 2B). Such layers are found from the model's own skeleton (built on the meta device, no
weights read) and passed to `BitsAndBytesConfig(llm_int8_skip_modules=...)`, so they stay
in the compute dtype and the rest is NF4. Training and the app use the same rule, so QLoRA
trains on the base the app runs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

BNB_CPU_BLOCK_ROWS = 32  # bitsandbytes.functional._convert_weight_packed_for_cpu's block_n
BNB_4BIT_BLOCKSIZE = 64  # inputs per scale (bitsandbytes' and transformers' 4-bit default)


def nf4_unpackable_linears(model: Any) -> list[str]:
    """Full names of the `nn.Linear` layers bitsandbytes' 4-bit CPU kernel cannot pack:
    output rows not a multiple of 32, or inputs not a multiple of the 64-input blocks."""
    import torch

    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and (module.out_features % BNB_CPU_BLOCK_ROWS or module.in_features % BNB_4BIT_BLOCKSIZE)
    ]


def nf4_skip_modules(where: str, **load_kwargs: Any) -> list[str] | None:
    """`llm_int8_skip_modules` for a 4-bit load of the model in `where`, or None when every
    linear layer can be quantised (the default skips of transformers then apply unchanged).

    A list given to transformers replaces its default skips (the output head, tied and last
    modules), so those are added back (`get_keys_to_not_convert`).
    """
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.quantizers.base import get_keys_to_not_convert

    config = AutoConfig.from_pretrained(where, **load_kwargs)
    with torch.device("meta"):
        skeleton = AutoModelForImageTextToText.from_config(config)
    defaults = set(get_keys_to_not_convert(skeleton))
    # a head of any vocabulary size is among the defaults already (never quantised)
    odd = [n for n in nf4_unpackable_linears(skeleton) if n not in defaults]
    if not odd:
        return None
    log.info(
        "4-bit NF4: %d linear layer(s) kept unquantised, their shapes do not fit bitsandbytes' "
        "CPU blocks (%d rows x %d inputs): %s",
        len(odd),
        BNB_CPU_BLOCK_ROWS,
        BNB_4BIT_BLOCKSIZE,
        ", ".join(odd[:4]) + (" ..." if len(odd) > 4 else ""),
    )
    # transformers matches each entry as a regex from the start of a module's full name
    return sorted(defaults | {re.escape(n) for n in odd})
