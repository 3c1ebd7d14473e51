"""Fabricated checkpoints in published layouts (real key names and shapes, small widths), and reference
forwards of the original architectures written here in plain torch, independently of the toolkit.

- VideoMAE (modeling_finetune / modeling_pretrain): Conv3d tubelet embedding; fixed sinusoid table
  (numpy, float64, rounded once); blocks with a bias-free qkv plus q_bias / v_bias (k bias zero),
  explicit softmax attention, optional gamma_1 / gamma_2; final `norm` or, with mean pooling,
  `fc_norm` after the mean; the pre-training encoder keeps everything under `encoder.`.
- The DEVIAS scene teacher: the same without mean pooling, with a cls token before the patches, the
  sinusoid table over 1 + N tokens, readout of the normed cls token.
- An MAE-fine-tuned image ViT (timm naming): cls token, learned pos_embed over 1 + N, qkv with bias,
  global pool over the patch tokens, then fc_norm.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-6  # VideoMAE and MAE build every LayerNorm with eps 1e-6


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale + offset


def block_state(g: torch.Generator, prefix: str, dim: int, hidden: int, *, qkv_bias: str = "videomae",
                layer_scale: bool = False) -> dict[str, torch.Tensor]:
    """One transformer block; qkv_bias "videomae" (q_bias, v_bias) or "timm" (attn.qkv.bias)."""
    sd = {
        f"{prefix}norm1.weight": _randn(g, dim, scale=0.1, offset=1.0),
        f"{prefix}norm1.bias": _randn(g, dim, scale=0.1),
        f"{prefix}attn.qkv.weight": _randn(g, 3 * dim, dim, scale=dim ** -0.5),
        f"{prefix}attn.proj.weight": _randn(g, dim, dim, scale=dim ** -0.5),
        f"{prefix}attn.proj.bias": _randn(g, dim, scale=0.1),
        f"{prefix}norm2.weight": _randn(g, dim, scale=0.1, offset=1.0),
        f"{prefix}norm2.bias": _randn(g, dim, scale=0.1),
        f"{prefix}mlp.fc1.weight": _randn(g, hidden, dim, scale=dim ** -0.5),
        f"{prefix}mlp.fc1.bias": _randn(g, hidden, scale=0.1),
        f"{prefix}mlp.fc2.weight": _randn(g, dim, hidden, scale=hidden ** -0.5),
        f"{prefix}mlp.fc2.bias": _randn(g, dim, scale=0.1),
    }
    if qkv_bias == "videomae":
        sd[f"{prefix}attn.q_bias"] = _randn(g, dim, scale=0.1)
        sd[f"{prefix}attn.v_bias"] = _randn(g, dim, scale=0.1)
    else:
        sd[f"{prefix}attn.qkv.bias"] = _randn(g, 3 * dim, scale=0.1)
    if layer_scale:
        sd[f"{prefix}gamma_1"] = _randn(g, dim, scale=0.1, offset=0.5)
        sd[f"{prefix}gamma_2"] = _randn(g, dim, scale=0.1, offset=0.5)
    return sd


def _norm(g: torch.Generator, name: str, dim: int) -> dict[str, torch.Tensor]:
    return {f"{name}.weight": _randn(g, dim, scale=0.1, offset=1.0), f"{name}.bias": _randn(g, dim, scale=0.1)}


def videomae_finetuned(dim: int = 64, depth: int = 2, *, num_classes: int = 7, mean_pooling: bool = True,
                       layer_scale: bool = False, tubelet: int = 2, patch: int = 16, seed: int = 0) -> dict:
    """A fine-tuned VideoMAE state dict (no pos_embed: the sinusoid table is not a parameter)."""
    g = torch.Generator().manual_seed(seed)
    sd = {"patch_embed.proj.weight": _randn(g, dim, 3, tubelet, patch, patch, scale=0.05),
          "patch_embed.proj.bias": _randn(g, dim, scale=0.1)}
    for i in range(depth):
        sd |= block_state(g, f"blocks.{i}.", dim, 4 * dim, layer_scale=layer_scale)
    sd |= _norm(g, "fc_norm" if mean_pooling else "norm", dim)
    sd |= {"head.weight": _randn(g, num_classes, dim, scale=0.5), "head.bias": _randn(g, num_classes, scale=0.1)}
    return sd


def videomae_pretraining(dim: int = 64, depth: int = 2, *, decoder_dim: int = 32, tubelet: int = 2, patch: int = 16,
                         seed: int = 1) -> dict:
    """A VideoMAE pre-training state dict: encoder (with its norm), decoder, encoder_to_decoder, mask_token."""
    g = torch.Generator().manual_seed(seed)
    sd = {"encoder.patch_embed.proj.weight": _randn(g, dim, 3, tubelet, patch, patch, scale=0.05),
          "encoder.patch_embed.proj.bias": _randn(g, dim, scale=0.1)}
    for i in range(depth):
        sd |= block_state(g, f"encoder.blocks.{i}.", dim, 4 * dim)
    sd |= _norm(g, "encoder.norm", dim)
    sd |= block_state(g, "decoder.blocks.0.", decoder_dim, 4 * decoder_dim)
    sd |= _norm(g, "decoder.norm", decoder_dim)
    pixels = 3 * tubelet * patch * patch
    sd |= {"decoder.head.weight": _randn(g, pixels, decoder_dim), "decoder.head.bias": _randn(g, pixels),
           "encoder_to_decoder.weight": _randn(g, decoder_dim, dim), "mask_token": _randn(g, 1, 1, decoder_dim)}
    return sd


def devias_teacher(dim: int = 192, depth: int = 2, *, num_classes: int = 6, seed: int = 2) -> dict:
    """The DEVIAS scene teacher's state dict: a cls-token video ViT with a final norm and a scene head."""
    g = torch.Generator().manual_seed(seed)
    sd = {"cls_token": _randn(g, 1, 1, dim), "patch_embed.proj.weight": _randn(g, dim, 3, 2, 16, 16, scale=0.05),
          "patch_embed.proj.bias": _randn(g, dim, scale=0.1)}
    for i in range(depth):
        sd |= block_state(g, f"blocks.{i}.", dim, 4 * dim)
    sd |= _norm(g, "norm", dim)
    sd |= {"head.weight": _randn(g, num_classes, dim, scale=0.5), "head.bias": _randn(g, num_classes, scale=0.1)}
    return sd


def mae_vit(dim: int = 192, depth: int = 12, *, grid: int = 2, patch: int = 16, num_classes: int = 5,
            seed: int = 3) -> dict:
    """An MAE-fine-tuned image ViT state dict (global pool: fc_norm, no norm) in timm's names."""
    g = torch.Generator().manual_seed(seed)
    sd = {"cls_token": _randn(g, 1, 1, dim, scale=0.5), "pos_embed": _randn(g, 1, 1 + grid * grid, dim, scale=0.5),
          "patch_embed.proj.weight": _randn(g, dim, 3, patch, patch, scale=0.05),
          "patch_embed.proj.bias": _randn(g, dim, scale=0.1)}
    for i in range(depth):
        sd |= block_state(g, f"blocks.{i}.", dim, 4 * dim, qkv_bias="timm")
    sd |= _norm(g, "fc_norm", dim)
    sd |= {"head.weight": _randn(g, num_classes, dim, scale=0.5), "head.bias": _randn(g, num_classes, scale=0.1)}
    return sd


# ------------------------------------------------------------------------------------- reference forwards


def last_block_tokens(model: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """A toolkit model's backbone tokens after its last block, before the final norm."""
    seen = {}
    hook = model.backbone.norm.register_forward_hook(lambda _m, args, _out: seen.setdefault("x", args[0]))
    with torch.no_grad():
        model.backbone(clips)
    hook.remove()
    return seen["x"]


def sinusoid(n: int, dim: int) -> torch.Tensor:
    """VideoMAE's table as its authors compute it: numpy float64, sin on even columns, cos on odd."""
    angles = np.array([[p / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for p in range(n)])
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.tensor(angles, dtype=torch.float32)


def _block(x: torch.Tensor, sd: dict, p: str, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    h = F.layer_norm(x, (d,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], EPS)
    if p + "attn.q_bias" in sd:
        bias = torch.cat([sd[p + "attn.q_bias"], torch.zeros_like(sd[p + "attn.v_bias"]), sd[p + "attn.v_bias"]])
    else:
        bias = sd[p + "attn.qkv.bias"]
    q, k, v = F.linear(h, sd[p + "attn.qkv.weight"], bias).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)
    attn = ((q * (d // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    out = F.linear((attn @ v).transpose(1, 2).reshape(b, n, d), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
    x = x + (sd[p + "gamma_1"] * out if p + "gamma_1" in sd else out)
    h = F.layer_norm(x, (d,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], EPS)
    out = F.linear(F.gelu(F.linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
                   sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    return x + (sd[p + "gamma_2"] * out if p + "gamma_2" in sd else out)


@torch.no_grad()
def videomae_forward(sd: dict, clips: torch.Tensor, heads: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """VideoMAE (or the DEVIAS teacher when `cls_token` is present) on normalised clips (B, C, T, H, W).

    Returns blocks (last block's tokens), tokens (after `norm`, when the file has one), pooled (the
    features the head reads: fc_norm of the mean, or the first token after norm) and logits (if a head).
    """
    sd = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    w = sd["patch_embed.proj.weight"]
    x = F.conv3d(clips, w, sd["patch_embed.proj.bias"], stride=tuple(w.shape[2:])).flatten(2).transpose(1, 2)
    if "cls_token" in sd:
        x = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), x], dim=1)
    x = x + sinusoid(x.shape[1], x.shape[2])
    for i in range(len({k.split(".")[1] for k in sd if k.startswith("blocks.")})):
        x = _block(x, sd, f"blocks.{i}.", heads)
    out = {"blocks": x}
    d = x.shape[-1]
    if "norm.weight" in sd:
        out["tokens"] = F.layer_norm(x, (d,), sd["norm.weight"], sd["norm.bias"], EPS)
        out["pooled"] = out["tokens"][:, 0]
    else:
        out["pooled"] = F.layer_norm(x.mean(1), (d,), sd["fc_norm.weight"], sd["fc_norm.bias"], EPS)
    if "head.weight" in sd:
        out["logits"] = F.linear(out["pooled"], sd["head.weight"], sd["head.bias"])
    return out


@torch.no_grad()
def mae_vit_forward(sd: dict, images: torch.Tensor, heads: int) -> torch.Tensor:
    """MAE's fine-tuned ViT (global pool) on normalised images (B, C, H, W) -> logits."""
    w = sd["patch_embed.proj.weight"]
    x = F.conv2d(images, w, sd["patch_embed.proj.bias"], stride=w.shape[-1]).flatten(2).transpose(1, 2)
    x = x + sd["pos_embed"][:, 1:]
    cls = (sd["cls_token"] + sd["pos_embed"][:, :1]).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1)
    for i in range(len({k.split(".")[1] for k in sd if k.startswith("blocks.")})):
        x = _block(x, sd, f"blocks.{i}.", heads)
    pooled = F.layer_norm(x[:, 1:].mean(1), (x.shape[-1],), sd["fc_norm.weight"], sd["fc_norm.bias"], EPS)
    return F.linear(pooled, sd["head.weight"], sd["head.bias"])


# ------------------------------------------------------------------------------------- the DEVIAS release


def devias_release(dim: int = 128, depth: int = 2, *, num_slots: int = 2, iters: int = 3, tied: bool = True,
                   slot_heads: int = 4, slot_head_dim: int = 32, amd_hidden: tuple[int, int] = (64, 32),
                   patches: int = 4, num_outputs: int = 5, seed: int = 4) -> dict:
    """The release's slot model (`modeling_slot.VisionTransformer`, head_type 'linear') in its own key names:
    a VideoMAE ViT with a final `norm`, `agg_block` (latents; per iteration a pre-norm cross-attention
    `layers.i.0` and feed-forward `layers.i.2`; `last_layer.0`), `mask_predictor.decoder.{0,2,4}`, `head`.
    With `tied`, every iteration holds the same tensors, as a weight-tied module's state dict does."""
    g = torch.Generator().manual_seed(seed)
    sd = {"patch_embed.proj.weight": _randn(g, dim, 3, 2, 16, 16, scale=0.05),
          "patch_embed.proj.bias": _randn(g, dim, scale=0.1)}
    for i in range(depth):
        sd |= block_state(g, f"blocks.{i}.", dim, 4 * dim)
    sd |= _norm(g, "norm", dim)
    inner = slot_heads * slot_head_dim
    sd["agg_block.latents"] = _randn(g, num_slots, dim)
    first: dict[str, torch.Tensor] = {}
    for i in range(iters):
        p = f"agg_block.layers.{i}."
        layer = {
            **_norm(g, f"{p}0.norm", dim), **_norm(g, f"{p}0.norm_context", dim),
            f"{p}0.fn.to_q.weight": _randn(g, inner, dim, scale=dim ** -0.5),
            f"{p}0.fn.to_k.weight": _randn(g, inner, dim, scale=dim ** -0.5),
            f"{p}0.fn.to_v.weight": _randn(g, inner, dim, scale=dim ** -0.5),
            f"{p}0.fn.to_out.0.weight": _randn(g, dim, inner, scale=inner ** -0.5),
            f"{p}0.fn.to_out.0.bias": _randn(g, dim, scale=0.1),
            **_norm(g, f"{p}2.norm", dim),
            f"{p}2.fn.net.0.weight": _randn(g, 4 * dim, dim, scale=dim ** -0.5),
            f"{p}2.fn.net.0.bias": _randn(g, 4 * dim, scale=0.1),
            f"{p}2.fn.net.3.weight": _randn(g, dim, 4 * dim, scale=(4 * dim) ** -0.5),
            f"{p}2.fn.net.3.bias": _randn(g, dim, scale=0.1),
        }
        if tied and i:
            layer = {k: first[k.replace(p, "agg_block.layers.0.", 1)].clone() for k in layer}
        first = first or layer
        sd |= layer
    sd |= _norm(g, "agg_block.last_layer.0", dim)
    widths = [dim, *amd_hidden, patches]
    for j in range(3):
        sd[f"mask_predictor.decoder.{2 * j}.weight"] = _randn(g, widths[j + 1], widths[j], scale=widths[j] ** -0.5)
        sd[f"mask_predictor.decoder.{2 * j}.bias"] = _randn(g, widths[j + 1], scale=0.1)
    sd |= {"head.weight": _randn(g, num_outputs, dim, scale=0.5), "head.bias": _randn(g, num_outputs, scale=0.1)}
    return sd


def release_vit_b_shapes(num_actions: int = 101, num_scenes: int = 365, num_slots: int = 2,
                         iters: int = 4) -> dict[str, tuple[int, ...]]:
    """Every tensor of the release's ViT-B/16 slot model (16 frames, 224 pixels, 4 x 512 slot attention,
    mask decoder 768-512-256-196), name -> shape, as its state dict lists them (untied iterations)."""
    shapes: dict[str, tuple[int, ...]] = {"patch_embed.proj.weight": (768, 3, 2, 16, 16),
                                          "patch_embed.proj.bias": (768,)}
    for i in range(12):
        p = f"blocks.{i}."
        shapes |= {p + "norm1.weight": (768,), p + "norm1.bias": (768,), p + "attn.q_bias": (768,),
                   p + "attn.v_bias": (768,), p + "attn.qkv.weight": (2304, 768), p + "attn.proj.weight": (768, 768),
                   p + "attn.proj.bias": (768,), p + "norm2.weight": (768,), p + "norm2.bias": (768,),
                   p + "mlp.fc1.weight": (3072, 768), p + "mlp.fc1.bias": (3072,), p + "mlp.fc2.weight": (768, 3072),
                   p + "mlp.fc2.bias": (768,)}
    shapes |= {"norm.weight": (768,), "norm.bias": (768,), "agg_block.latents": (num_slots, 768)}
    for i in range(iters):
        p = f"agg_block.layers.{i}."
        shapes |= {p + "0.norm.weight": (768,), p + "0.norm.bias": (768,), p + "0.norm_context.weight": (768,),
                   p + "0.norm_context.bias": (768,), p + "0.fn.to_q.weight": (2048, 768),
                   p + "0.fn.to_k.weight": (2048, 768), p + "0.fn.to_v.weight": (2048, 768),
                   p + "0.fn.to_out.0.weight": (768, 2048), p + "0.fn.to_out.0.bias": (768,),
                   p + "2.norm.weight": (768,), p + "2.norm.bias": (768,), p + "2.fn.net.0.weight": (3072, 768),
                   p + "2.fn.net.0.bias": (3072,), p + "2.fn.net.3.weight": (768, 3072), p + "2.fn.net.3.bias": (768,)}
    shapes |= {"agg_block.last_layer.0.weight": (768,), "agg_block.last_layer.0.bias": (768,),
               "mask_predictor.decoder.0.weight": (512, 768), "mask_predictor.decoder.0.bias": (512,),
               "mask_predictor.decoder.2.weight": (256, 512), "mask_predictor.decoder.2.bias": (256,),
               "mask_predictor.decoder.4.weight": (196, 256), "mask_predictor.decoder.4.bias": (196,),
               "head.weight": (num_actions + num_scenes, 768), "head.bias": (num_actions + num_scenes,)}
    return shapes


@torch.no_grad()
def devias_release_forward(sd: dict, clips: torch.Tensor, heads: int, slot_heads: int = 4) -> dict[str, torch.Tensor]:
    """The release's slot model on normalised clips, written from its description: the ViT tokens after
    `norm`, then the slot block (queries = latents; each iteration: LayerNorm (eps 1e-5) on slots and on
    tokens, per-head logits q.k / sqrt(d), softmax over the SLOT axis, renormalised over keys + 1e-7,
    weighted values, to_out, residual; feed-forward residual), `last_layer`, the head on every slot, the mask
    decoder with its sigmoid. Returns slots (B, K, D), logits (B, K, A + S), attn (B, K, N) (the last
    iteration's softmax map, mean over heads) and mask (B, K, P) probabilities."""
    tokens = videomae_forward(sd, clips, heads)["tokens"]
    b, n, d = tokens.shape
    x = sd["agg_block.latents"][None].expand(b, -1, -1)
    k_slots = x.shape[1]
    iters = len({k.split(".")[2] for k in sd if k.startswith("agg_block.layers.")})
    for i in range(iters):
        p = f"agg_block.layers.{i}."
        xs = F.layer_norm(x, (d,), sd[p + "0.norm.weight"], sd[p + "0.norm.bias"], 1e-5)
        ctx = F.layer_norm(tokens, (d,), sd[p + "0.norm_context.weight"], sd[p + "0.norm_context.bias"], 1e-5)
        q = (xs @ sd[p + "0.fn.to_q.weight"].T).reshape(b, k_slots, slot_heads, -1).transpose(1, 2)
        k = (ctx @ sd[p + "0.fn.to_k.weight"].T).reshape(b, n, slot_heads, -1).transpose(1, 2)
        v = (ctx @ sd[p + "0.fn.to_v.weight"].T).reshape(b, n, slot_heads, -1).transpose(1, 2)
        sim = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, heads, K, N)
        attn = sim.softmax(dim=2)  # over the slots
        weights = attn / (attn.sum(dim=-1, keepdim=True) + 1e-7)
        out = (weights @ v).transpose(1, 2).reshape(b, k_slots, -1)
        x = F.linear(out, sd[p + "0.fn.to_out.0.weight"], sd[p + "0.fn.to_out.0.bias"]) + x
        h = F.layer_norm(x, (d,), sd[p + "2.norm.weight"], sd[p + "2.norm.bias"], 1e-5)
        h = F.linear(F.gelu(F.linear(h, sd[p + "2.fn.net.0.weight"], sd[p + "2.fn.net.0.bias"])),
                     sd[p + "2.fn.net.3.weight"], sd[p + "2.fn.net.3.bias"])
        x = h + x
    slots = F.layer_norm(x, (d,), sd["agg_block.last_layer.0.weight"], sd["agg_block.last_layer.0.bias"], 1e-5)
    mask = slots
    for j in range(3):
        mask = F.linear(mask, sd[f"mask_predictor.decoder.{2 * j}.weight"], sd[f"mask_predictor.decoder.{2 * j}.bias"])
        mask = torch.relu(mask) if j < 2 else torch.sigmoid(mask)
    return {"slots": slots, "logits": F.linear(slots, sd["head.weight"], sd["head.bias"]),
            "attn": attn.mean(dim=1), "mask": mask}


# ------------------------------------------------------------------------------------- Hugging Face VideoMAE


def to_hf_videomae(sd: dict) -> dict:
    """A VideoMAE state dict (fine-tuned, or pre-training with `encoder.`) in the names `transformers`'
    VideoMAE classes use: `videomae.` encoder, query / key / value split out of qkv, `classifier`."""
    hf = {}
    for name, value in sd.items():
        base = name[len("encoder."):] if name.startswith("encoder.") else name
        if name.startswith(("decoder.", "encoder_to_decoder.")) or name == "mask_token":
            hf[name] = value  # the decoder is renamed too in real files; set aside either way
        elif base.startswith("patch_embed.proj."):
            hf["videomae.embeddings.patch_embeddings.projection." + base.split(".")[-1]] = value
        elif base.startswith("blocks."):
            _, i, rest = base.split(".", 2)
            p = f"videomae.encoder.layer.{i}."
            if rest == "attn.qkv.weight":
                q, k, v = value.chunk(3)
                hf |= {p + "attention.attention.query.weight": q, p + "attention.attention.key.weight": k,
                       p + "attention.attention.value.weight": v}
            else:
                table = {"norm1.": "layernorm_before.", "norm2.": "layernorm_after.",
                         "attn.q_bias": "attention.attention.q_bias", "attn.v_bias": "attention.attention.v_bias",
                         "attn.proj.": "attention.output.dense.", "mlp.fc1.": "intermediate.dense.",
                         "mlp.fc2.": "output.dense."}
                old = next(o for o in table if rest.startswith(o))
                hf[p + table[old] + rest[len(old):]] = value
        elif base.startswith("norm."):
            hf["videomae.layernorm." + base.split(".")[-1]] = value
        elif base.startswith("fc_norm."):
            hf[base] = value
        elif base.startswith("head."):
            hf["classifier." + base.split(".")[-1]] = value
        else:
            raise KeyError(name)
    return hf
