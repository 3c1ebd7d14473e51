"""Batch augmentations and mask targets as pure tensor functions (CPU or GPU, no host sync).

- `scene_mix`: the paper's eq. 8, x_mix = x_perm * (1 - M) + x * M: clip i's foreground over the
  background of clip perm(i), per sample with probability p_aug. The action target stays i's; the
  scene target (index or cached distribution) becomes perm(i)'s. perm is a random derangement (a
  random single cycle over the batch), so a selected sample always receives another clip's
  background; a batch of one is never mixed. Masked-out samples are returned bit-identical. With
  `clear_donor` the background clip's own masked region is first flattened (`clear_foreground`).
- `be_mix`: the BE baseline: per clip one random frame of the same clip, one lambda ~ U(0, 0.3) per
  batch, x_t <- (1 - lambda) x_t + lambda x_frame.
- `top_beta_mask`: soft mask -> hard mask with k = round(beta * H * W) ones per map, none where the soft
  mask is 0 (Python's round, as `devias_tk.masks.fame.top_fraction_mask`, so both give the same masks).
- `amd_target` / `tubelet_targets`: masks pooled to the AMD target (B, h'*w') and to the guidance
  target (B, t'*h'*w') in the backbone's token order (tubelet-major, then raster).
- `guidance_after_mix`: on a mixed clip only the pixels kept from clip i (its hard mask M_i) still
  show clip i, so its per-tubelet guidance masks are cut to M_i there.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class SceneMix(NamedTuple):
    clips: torch.Tensor  # (B, C, T, H, W)
    scene: torch.Tensor  # (B,) or (B, S): the scene target of the clip that supplied the background
    mixed: torch.Tensor  # (B,) bool: which samples were mixed
    perm: torch.Tensor  # (B,) long: background source of each sample (meaningful where mixed)


def _rng_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


def random_derangement(
    n: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """A random permutation of range(n) without fixed points (n >= 2): one random n-cycle."""
    device = _rng_device(generator, device or torch.device("cpu"))
    order = torch.randperm(n, generator=generator, device=device)
    perm = torch.empty_like(order)
    perm[order] = order.roll(-1)
    return perm


def clear_foreground(clips: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """`clips` (B, C, T, H, W) with the pixels under `masks` (broadcastable, 1 = foreground) replaced by the mean of
    the same frame's and channel's other pixels: the clip's actor becomes a flat patch of its scene's colour."""
    keep = 1 - masks.to(clips.dtype)
    kept = clips * keep
    mean = kept.sum((-2, -1), keepdim=True) / keep.expand_as(clips).sum((-2, -1), keepdim=True).clamp_min(1)
    return kept + mean * (1 - keep)


def scene_mix(
    clips: torch.Tensor,
    masks: torch.Tensor,
    scene: torch.Tensor,
    p_aug: float,
    generator: torch.Generator | None = None,
    clear_donor: bool = False,
) -> SceneMix:
    """Eq. 8 over a batch. clips (B, C, T, H, W); masks: the clips' hard masks, (B, H, W) or any shape
    broadcastable to the clips (one mask for all frames in the paper); scene: (B,) or (B, S).

    Random numbers come from `generator` (on its own device, then moved to the clips' device; a
    generator on the clips' device avoids even that copy).
    """
    batch = clips.shape[0]
    device = clips.device
    if masks.dim() == 3:
        masks = masks[:, None, None]
    rng_device = _rng_device(generator, device)
    if batch < 2:
        mixed = torch.zeros(batch, dtype=torch.bool, device=device)
        return SceneMix(clips, scene, mixed, torch.arange(batch, device=device))
    # non_blocking: a CPU generator feeding CUDA clips must not make the host wait for the GPU
    apply = (torch.rand(batch, generator=generator, device=rng_device) < p_aug).to(device, non_blocking=True)
    perm = random_derangement(batch, generator, rng_device).to(device, non_blocking=True)
    m = masks.to(clips.dtype)
    background = clear_foreground(clips, m) if clear_donor else clips
    pasted = background[perm] * (1 - m) + clips * m
    out = torch.where(apply.view(batch, 1, 1, 1, 1), pasted, clips)
    sel = apply.view(batch, *([1] * (scene.dim() - 1)))
    new_scene = torch.where(sel, scene[perm], scene)
    return SceneMix(out, new_scene, apply, perm)


def be_mix(
    clips: torch.Tensor, generator: torch.Generator | None = None, max_lambda: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BE on clips (B, C, T, H, W) -> (mixed clips, lambda (scalar tensor), chosen frame per clip (B,))."""
    batch, channels, frames, height, width = clips.shape
    rng_device = _rng_device(generator, clips.device)
    index = torch.randint(0, frames, (batch,), generator=generator, device=rng_device)
    lam = torch.rand((), generator=generator, device=rng_device) * max_lambda
    index, lam = index.to(clips.device, non_blocking=True), lam.to(clips.device, non_blocking=True)
    frame = clips.gather(2, index.view(batch, 1, 1, 1, 1).expand(batch, channels, 1, height, width))
    lam_c = lam.to(clips.dtype)
    return (1 - lam_c) * clips + lam_c * frame, lam, index


def top_beta_mask(soft: torch.Tensor, beta: float) -> torch.Tensor:
    """Soft masks (..., H, W) -> float hard masks with the top k = round(beta*H*W) pixels of each map set to 1.

    Ties are broken in raster order (the earlier pixel wins), via a stable descending sort, so the
    result is deterministic. A pixel whose soft value is 0 is never foreground: a map with fewer than k
    positive pixels (a ground-truth mask smaller than beta of the frame) keeps only those, where the
    raster order would otherwise add the frame's top rows, a strip of scene, to the pasted region.
    """
    height, width = soft.shape[-2:]
    k = round(beta * height * width)  # Python's round (half to even), like the masks stage
    flat = soft.reshape(*soft.shape[:-2], height * width)
    order = torch.sort(flat, dim=-1, descending=True, stable=True).indices
    hard = torch.zeros_like(flat, dtype=torch.float32)
    hard.scatter_(-1, order[..., :k], 1.0)
    return (hard * (flat > 0)).view(soft.shape)


def amd_target(masks: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Masks (B, T, H, W) or (B, H, W) -> (B, (H/p)*(W/p)): each patch's foreground fraction, averaged over time."""
    if masks.dim() == 4:
        masks = masks.float().mean(dim=1)
    return F.avg_pool2d(masks.float()[:, None], patch_size).flatten(1)


def guidance_after_mix(tubelet_masks: torch.Tensor, pasted: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """Per-tubelet guidance masks of the clips a scene mix produced.

    tubelet_masks (B, J, h, w) in [0, 1] at the guidance resolution; pasted (B, H, W): the hard masks
    M_i the mix kept clip i's pixels with (H, W multiples of h, w); mixed (B,) bool (`SceneMix.mixed`).
    A mixed sample's masks are multiplied by the share of each guidance pixel that M_i kept, i.e.
    intersected with M_i (a soft intersection where a guidance pixel straddles M_i's border); the
    rest of clip i's masks lie on the other clip's background and are dropped. Unmixed samples pass
    through unchanged.
    """
    kept = F.interpolate(pasted.float()[:, None], size=tubelet_masks.shape[-2:], mode="area")
    return torch.where(mixed.view(-1, 1, 1, 1), tubelet_masks * kept, tubelet_masks)


def tubelet_targets(masks: torch.Tensor, patch_size: int, tubelet_size: int) -> torch.Tensor:
    """Masks (B, T, H, W) -> (B, (T/tubelet)*(H/p)*(W/p)): foreground fraction per token, in token order.

    Per-frame masks: pass tubelet_size=2 (frames (0,1), (2,3), ... averaged). Masks already made per
    frame pair (the FAME per-tubelet masks, (B, T/2, H, W)): pass tubelet_size=1.
    """
    return F.avg_pool3d(masks.float()[:, None], (tubelet_size, patch_size, patch_size)).flatten(1)
