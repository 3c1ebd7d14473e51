"""Choosing the torch device and the autocast precision for inference."""

from __future__ import annotations

import torch

from devias_tk.errors import DeviasError


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviasError(f"--device {device}: no CUDA device is available")
    try:
        return torch.device(device)
    except RuntimeError:
        raise DeviasError(f"--device {device!r}: not a device (use cpu, cuda or auto)") from None


def amp_dtype_for(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on a GPU that has it (fp16 otherwise); None (float32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
