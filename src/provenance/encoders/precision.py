"""Choice and verification of reduced-precision inference."""

from __future__ import annotations

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Reduced-precision embeddings must stay this close to float32 ones, else we fall back.
MIN_COSINE = 0.999


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 matrix units (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested: str, device_type: str) -> str:
    if requested not in PRECISIONS:
        from ..errors import UsageError

        raise UsageError(f"unknown precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device_type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
