"""A BPBReID-style head (Somers et al., "Body Part-Based Representation Learning for Occluded
Person Re-Identification", WACV 2023), written from the paper for the suite's parts and trunk.

On the backbone's feature map F [N, D, H, W]:

- **Body part attention**: a pixel-wise part classifier (BN, 1x1 conv) scores K parts plus the
  background at every cell; a softmax over the K + 1 classes gives the attention maps A. It is
  supervised by the part labels (the suite's 4 parts, background 0), each cell's target being
  the class covering most of it, with a label-smoothed cross-entropy (the body part attention
  loss).
- **Embeddings** by global weighted average pooling (GWAP): part k is sum A_k F / sum A_k; the
  foreground uses max_k A_k; the global embedding is plain average pooling; the concatenated
  embedding is the K part embeddings side by side. The holistic ones (global, foreground,
  concatenated) each have a BN neck and an identity classifier.
- **Visibility**: a part is visible when it is the most likely class of at least one cell.
- **GiLt** (global-identity, local-triplet): identity losses (label-smoothed cross-entropy) on
  the three holistic embeddings, and a batch-hard triplet loss on the part-averaged distance of
  the part embeddings; plus the body part attention loss, weighted 0.35.
- **Test**: the BN foreground embedding and the K part embeddings, compared by the suite's
  eq. (1) over the commonly visible ones (the foreground is always visible).

Differences from the published code (DESIGN and docs/plugins.md list them): the suite's 4 parts
from its part labels (the paper: 5 or 8 parts from PifPaf fields), no dimension reduction after
pooling, the suite's ResNet trunk at its input size (the paper: HRNet-W32 or ResNet-50 at
384x128), targets by area coverage on the feature grid (the code: bilinear resize, argmax), and
no per-part identity classifiers (the GiLt default gives them weight 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid_methods.backbone import method_backbone, split_class_token
from reid_methods.base import Batch, Method, MethodConfig, Output, register_method
from reid_methods.heads import BNNeck
from reid_methods.losses import part_distance


@dataclass(frozen=True)
class BPBReIDConfig(MethodConfig):
    num_parts: int = 4  # K: the suite's parts (head; torso+arms; upper legs; lower legs+feet)
    label_smoothing: float = 0.1  # identity and body part attention cross-entropies (paper 4.1)
    attention_weight: float = 0.35  # weight of the body part attention loss (published default)
    id_weight: float = 1.0  # GiLt: identity loss on each holistic embedding
    triplet_weight: float = 1.0  # GiLt: triplet loss on the part-averaged distance
    margin: float = 0.3  # batch-hard triplet margin (paper 4.1)
    # visibility in the training losses: the published configurations train without it
    # (mask_filtering_training False) and use it at test time only
    train_visibility: bool = False
    # ViT/DeiT: the global embedding is the class token (TransReID's) instead of the patches'
    # average; other backbones have no class token (a one-line error)
    global_token: bool = False
    needs_part_labels: bool = True


@register_method(
    "bpbreid",
    BPBReIDConfig(),
    label="BPBReID-style (our implementation)",
    order=70,
    in_all=True,
    reference="hpnet",  # the part-based method it is compared with
)
class BPBReID(Method):
    """Shared Conv1-5; part attention from a pixel classifier; GWAP embeddings; GiLt."""

    cfg: BPBReIDConfig

    def __init__(self, cfg: BPBReIDConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        net = method_backbone(cfg, cfg.global_token)
        self.backbone = nn.Sequential(net.trunk, net.conv5)
        self.pixel_classifier = nn.Sequential(
            nn.BatchNorm2d(net.dim), nn.Conv2d(net.dim, cfg.num_parts + 1, 1)
        )
        self.global_neck = BNNeck(net.dim, num_classes)
        self.foreground_neck = BNNeck(net.dim, num_classes)
        self.concat_neck = BNNeck(net.dim * cfg.num_parts, num_classes)

    def attention(self, fmap: Tensor) -> tuple[Tensor, Tensor]:
        """Pixel-wise part scores [N, K+1, H, W] (0 = background) and their softmax A."""
        scores = self.pixel_classifier(fmap)
        return scores, scores.softmax(dim=1)

    def forward(self, images: Tensor) -> Output:
        fmap, token = split_class_token(self.backbone(images))  # [N, D, H, W], [N, D] | None
        n, k = fmap.shape[0], self.cfg.num_parts
        scores, probs = self.attention(fmap)
        parts = probs[:, 1:]  # [N, K, H, W]
        foreground = parts.amax(dim=1, keepdim=True)  # [N, 1, H, W]
        part_emb = weighted_average_pool(fmap, parts)  # [N, K, D]
        fg_emb = weighted_average_pool(fmap, foreground)[:, 0]  # [N, D]
        global_emb = fmap.mean(dim=(2, 3)) if token is None else token  # [N, D]
        # the cells each part wins; a part is visible where it wins at least one
        hard = F.one_hot(scores.argmax(dim=1), k + 1).permute(0, 3, 1, 2)[:, 1:]  # [N, K, H, W]
        part_vis = hard.amax(dim=(2, 3)).to(fmap.dtype)  # [N, K]
        fg_f, fg_logits = self.foreground_neck(fg_emb)
        _, global_logits = self.global_neck(global_emb)
        _, concat_logits = self.concat_neck(part_emb.flatten(1))
        ones = part_vis.new_ones(n, 1)
        return Output(
            features=torch.cat([fg_f.unsqueeze(1), part_emb], dim=1),  # [N, 1+K, D]
            visibility=torch.cat([ones, part_vis], dim=1),  # [N, 1+K]
            pre_bn=torch.cat([fg_emb.unsqueeze(1), part_emb], dim=1),  # [N, 1+K, D]
            logits=torch.stack([global_logits, fg_logits, concat_logits], dim=1),  # [N, 3, C]
            masks=hard.to(fmap.dtype),  # [N, K, H, W]: the cells each part wins (G > 0.5)
            extras={"part_scores": scores},
        )

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:
        assert out.logits is not None and out.pre_bn is not None, "training output lacks logits"
        assert batch.part_labels is not None, "BPBReID needs part labels in the batch"
        c = self.cfg
        scores = out.extras["part_scores"]
        holistic = holistic_id_loss(out.logits, batch.pids, c.label_smoothing)
        parts, vis = out.pre_bn[:, 1:], out.visibility[:, 1:]
        used = vis if c.train_visibility else torch.ones_like(vis)
        size = (int(scores.shape[-2]), int(scores.shape[-1]))
        targets = attention_targets(batch.part_labels, c.num_parts, size)
        return {
            "id": c.id_weight * holistic,
            "triplet": c.triplet_weight * part_averaged_triplet(parts, used, batch.pids, c.margin),
            "attention": c.attention_weight
            * F.cross_entropy(scores, targets, label_smoothing=c.label_smoothing),
        }


def weighted_average_pool(fmap: Tensor, weights: Tensor, eps: float = 1e-6) -> Tensor:
    """GWAP: sum_hw w F / sum_hw w for each map of ``weights`` [N, M, H, W] -> [N, M, D]."""
    num = torch.einsum("nmhw,ndhw->nmd", weights, fmap)
    return num / weights.sum(dim=(2, 3)).clamp_min(eps).unsqueeze(-1)


def holistic_id_loss(logits: Tensor, pids: Tensor, smoothing: float) -> Tensor:
    """GiLt's identity term: the label-smoothed cross-entropy of each holistic embedding's
    classifier (global, foreground, concatenated parts), summed."""
    n, m, c = logits.shape
    targets = pids.long().repeat_interleave(m)
    ce = F.cross_entropy(
        logits.reshape(n * m, c), targets, reduction="none", label_smoothing=smoothing
    )
    return ce.view(n, m).mean(dim=0).sum()


def part_averaged_triplet(h: Tensor, visibility: Tensor, pids: Tensor, margin: float) -> Tensor:
    """GiLt's triplet term: batch-hard on the mean over commonly visible parts of the per-part
    Euclidean distances, averaged over the anchors that have both a valid positive and a valid
    negative (pairs sharing no visible part are never mined)."""
    dist = part_distance(h, visibility, pids)  # [N, N]: -inf / +inf where nothing is shared
    same = pids.unsqueeze(0) == pids.unsqueeze(1)
    eye = torch.eye(len(pids), dtype=torch.bool, device=dist.device)
    inf = torch.full_like(dist, float("inf"))
    d_ap = torch.where(same & ~eye, dist, -inf).amax(dim=1)
    d_an = torch.where(~same, dist, inf).amin(dim=1)
    valid = torch.isfinite(d_ap) & torch.isfinite(d_an)
    if not valid.any():
        return h.sum() * 0.0  # no triplet in this batch: a zero that keeps the graph
    return F.relu(margin + d_ap[valid] - d_an[valid]).mean()


def attention_targets(labels: Tensor, num_parts: int, size: tuple[int, int]) -> Tensor:
    """Each feature cell's class (0 background, 1..K parts): the one covering most of its area
    in the part-label map [N, Hi, Wi] (ties: the lower class)."""
    onehot = F.one_hot(labels.long(), num_parts + 1).permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(onehot, size).argmax(dim=1)  # [N, h, w]
