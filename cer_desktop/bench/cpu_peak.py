"""What this CPU can multiply at best: the ceiling a model's latency is compared with.

`cpu_bf16_peak_gflops` times large square bf16 matrix products on torch's threads (oneDNN uses
AMX or AVX512-BF16 where the CPU has them) and keeps the best; `matmul_gflops` times one shape,
to see how far the small products of a one-face forward pass fall below that ceiling;
`cpu_read_gbs` is the other ceiling: how fast weights can be read from memory at all.
"""

from __future__ import annotations

import time
from typing import Any

import torch


def matmul_gflops(
    m: int, k: int, n: int, dtype: Any = torch.bfloat16, repeats: int = 3, warmup: int = 1
) -> float:
    """Best GFLOP/s of `(m x k) @ (k x n)` over `repeats` timed products after `warmup`."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(dtype)
    b = torch.randn(k, n, generator=gen).to(dtype)
    with torch.inference_mode():
        for _ in range(warmup):
            a @ b
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best / 1e9


def cpu_bf16_peak_gflops(sizes: tuple[int, ...] = (2048, 4096), repeats: int = 3) -> float:
    """The best bf16 GFLOP/s of square products of `sizes` (a few seconds on 2 cores)."""
    return round(max(matmul_gflops(s, s, s, torch.bfloat16, repeats) for s in sizes), 1)


def cpu_read_gbs(gib: float = 1.0, repeats: int = 3) -> float:
    """The best GB/s of reading `gib` GiB once (an fp32 sum on torch's threads).

    Larger than every cache, so it is what a call pays for each weight it reads once. fp32,
    not bf16: summing bf16 converts every element and measured 1.1-1.6x slower over the same
    bytes here, which would understate the bandwidth (and overstate the floor).
    """
    x = torch.ones(int(gib * 2**30) // 4, dtype=torch.float32)
    with torch.inference_mode():
        x.sum()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            x.sum()
            best = min(best, time.perf_counter() - t)
    return round(x.numel() * x.element_size() / best / 1e9, 1)
