"""A cheap, stable fingerprint of a model's weights."""

from __future__ import annotations

import hashlib


def weights_fingerprint(state_dict) -> str:
    """Hash of every tensor's name, shape and a fixed sample of its values.

    Sampling (head, tail and a stride through each tensor) keeps this to a few
    milliseconds for ViT-L/14 while any real change of weights changes it.
    """
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name in sorted(state_dict):
        t = state_dict[name]
        if not torch.is_tensor(t):
            continue
        flat = t.detach().reshape(-1).to("cpu", torch.float32)
        n = flat.numel()
        step = max(1, n // 256)
        sample = torch.cat([flat[:256], flat[-256:], flat[::step][:256]]) if n else flat
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(sample.numpy().tobytes())
    return h.hexdigest()
