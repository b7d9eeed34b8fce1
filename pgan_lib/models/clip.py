"""A mini CLIP: images and descriptions mapped into one space by contrastive pre-training.

Two encoders, one per modality, each ending in a unit-length vector of the same size:

    image x (N, C, H, W)     --ImageEncoder-->  u = f(x) / ||f(x)||   (N, D)
    description tokens (N, L) --TextEncoder-->   v = g(t) / ||g(t)||   (N, D)

Trained on (image, description) pairs (Radford et al. 2021, "CLIP"): in a batch of
N pairs, the similarity matrix S = s * U V^T (N, N), s = exp(log_scale) a learned
inverse temperature, should be large on the diagonal (an image and *its*
description) and small elsewhere. The loss is the symmetric InfoNCE, a
cross-entropy in both directions:

    L = 1/2 [ CE(rows of S, targets) + CE(columns of S, targets) ]
      = -1/2N sum_i [ sum_j T_ij log softmax_j(S_i.) + sum_j T_ji log softmax_j(S_.i) ]

With unique descriptions the target T is the identity (pair i matches only
pair i). In a product catalogue many items share their attributes ("a red
striped mug" twice in one batch); calling the second one a negative would
punish the model for being right. So T_ij = 1/n_i for every j with the same
attributes as i (n_i of them), a soft target spread over all true matches.

The description of each training item is re-phrased with a random *training*
template at every step (the data's own description rules), and 10% of its
words become ``<unk>``, so the text encoder learns meaning rather than one
phrasing; the held-out templates stay unseen for testing paraphrases.

Once trained, the text encoder's sentence embedding is the condition of the
text-to-image GAN (``pgan_lib.models.t2i``) and the image-text similarity is a
metric: **retrieval** R@k (given a description, is its own image among the k
most similar of 100 candidates?) and **R-precision** (given a generated image,
is the description it was made from the most similar of 100?).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.attributes import TEMPLATES, describe_fashion
from ..data.base import ProductData
from ..data.batches import Batch
from ..data.catalog import CATEGORIES, COLOURS, PATTERNS, TRAIN_TEMPLATES, describe
from ..data.lexicon import fashion_word_choices
from ..text import TextCondition, TextEncoder, TextEncoderConfig
from .base import KitModel, TrainingContext
from .classifier import random_shift_flip
from .layers import down_steps
from .optim import adam


@dataclass
class CLIPConfig:
    channels: int = 3
    size: int = 32
    image_width: int = 16           # channels of the image encoder's first layer; doubled per step down
    embed_dim: int = 64             # size of the shared embedding space
    vocab: tuple[str, ...] = ()
    max_len: int = 16
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    init_temperature: float = 0.07  # s = 1 / temperature at the start
    word_dropout: float = 0.1       # share of words replaced by <unk> during training
    shift: int = 2                  # image augmentation: random shifts of up to this many pixels
    rephrase: bool = True           # re-phrase descriptions with random training templates
    weight_decay: float = 0.01
    subword_buckets: int = 0        # character n-gram buckets of the text encoder (0: none; see pgan_lib.text.subword)

    def __post_init__(self) -> None:
        down_steps(self.size)
        TextEncoderConfig(d_model=self.d_model, n_heads=self.n_heads)

    def text_config(self) -> TextEncoderConfig:
        return TextEncoderConfig(vocab=self.vocab, max_len=self.max_len, d_model=self.d_model, n_layers=self.n_layers,
                                 n_heads=self.n_heads, embed_dim=self.embed_dim, subword_buckets=self.subword_buckets)


class ImageEncoder(nn.Module):
    """A small CNN: images in [0, 1] -> (N, embed_dim). For 32x32 and width 16:

        (N, 3, 32, 32) -> 3x3 conv, ReLU                     -> (N, 16, 32, 32)
        -> 4x4 conv stride 2, BatchNorm, ReLU                -> (N, 32, 16, 16)
        -> 4x4 conv stride 2, BatchNorm, ReLU                -> (N, 64, 8, 8)
        -> 4x4 conv stride 2, BatchNorm, ReLU                -> (N, 128, 4, 4)
        -> flatten, linear                                   -> (N, embed_dim)

    28x28 images take two steps down (to 7x7).
    """

    def __init__(self, channels: int, size: int, width: int, embed_dim: int) -> None:
        super().__init__()
        steps, side = down_steps(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(inplace=True)]
        c = width
        for _ in range(steps):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(inplace=True)]
            c *= 2
        self.body = nn.Sequential(*layers, nn.Flatten())              # (N, c * side * side)
        self.proj = nn.Linear(c * side * side, embed_dim)            # (N, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.body(x * 2 - 1))


# -- losses and pairings -------------------------------------------------------------------------


def soft_targets(keys: torch.Tensor | None, n: int, device: torch.device | None = None) -> torch.Tensor:
    """T (n, n): T_ij = 1/n_i where items i and j share a key (the same attributes), else 0.

    Without keys, T is the identity.
    """
    if keys is None:
        return torch.eye(n, device=device)
    same = (keys[:, None] == keys[None, :]).float()                  # (n, n), 1 on the diagonal at least
    return same / same.sum(1, keepdim=True)


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
                     keys: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of unit-length embeddings (N, D), see the module docstring.

        S = scale * U V^T
        L = 1/2 [ mean_i CE(S_i., T_i.) + mean_j CE(S_.j, T_.j) ]
    """
    s = scale * image_emb @ text_emb.t()                             # (N, N): images in rows, texts in columns
    t = soft_targets(keys, len(s), s.device)
    loss_i2t = -(t * s.log_softmax(dim=1)).sum(1).mean()              # each image picks among the texts
    loss_t2i = -(t.t() * s.t().log_softmax(dim=1)).sum(1).mean()      # each text picks among the images
    return (loss_i2t + loss_t2i) / 2


def attribute_keys(data) -> torch.Tensor:
    """One integer per item, equal for items with the same label and attributes (N,).

    Built in mixed radix: key = ((label * |A1| + a1) * |A2| + a2) ...; data
    without attributes fall back to "the same description".
    """
    if data.attributes:
        key = data.labels.clamp(min=0).clone()
        for name in sorted(data.attributes):
            key = key * len(data.attribute_values[name]) + data.attributes[name]
        return key
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(d, len(index)) for d in data.descriptions], dtype=torch.long)


def mismatched_index(keys: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each item i an index j != i whose key differs from key i (a description of *another* product).

    Starts from a random shift of the batch, then re-draws every j that still
    shares i's key, a few times; items for which no other key exists in the
    batch at all get the next item (j != i always holds for n > 1).
    """
    n = len(keys)
    if n < 2:
        raise ValueError("mismatched pairs need a batch of at least two items")
    device = keys.device
    shift = int(torch.randint(1, n, (1,), generator=generator))
    j = (torch.arange(n) + shift) % n
    k = keys.cpu()
    for _ in range(8):
        bad = k[j] == k
        if not bad.any():
            break
        j[bad] = torch.randint(0, n, (int(bad.sum()),), generator=generator)
        j[j == torch.arange(n)] = (torch.arange(n)[j == torch.arange(n)] + 1) % n
    bad = k[j] == k
    if bad.any():                         # the slow way for the few left: any item with another key
        for i in torch.nonzero(bad).flatten().tolist():
            others = torch.nonzero(k != k[i]).flatten()
            j[i] = others[torch.randint(0, len(others), (1,), generator=generator)] if len(others) else (i + 1) % n
    return j.to(device)


@torch.no_grad()
def retrieval_recall(query: torch.Tensor, candidates: torch.Tensor, keys: torch.Tensor, n_candidates: int = 100,
                     ks: tuple[int, ...] = (1, 5), seed: int = 0) -> dict[str, float]:
    """Recall@k of retrieving item i's own candidate with query i, among ``n_candidates``.

    query, candidates: unit embeddings (N, D), row i of each belongs to item i.
    For every query, the candidates are its own item plus n_candidates - 1
    others drawn at random among the items with *another* key (other
    attributes), so a second "red striped mug" never counts as a mistake. The
    rank is the number of distractors scoring higher than the true item.
    Returns {"R@1": ..., "R@5": ...} as fractions.
    """
    n = len(query)
    gen = torch.Generator().manual_seed(seed)
    keys = keys.cpu()
    true_score = (query * candidates).sum(1).cpu()                    # (N,)
    ranks = torch.zeros(n, dtype=torch.long)
    for start in range(0, n, 256):
        idx = torch.arange(start, min(n, start + 256))
        # Draw distractors: random items, re-drawn while they share the query's key.
        d = torch.randint(0, n, (len(idx), n_candidates - 1), generator=gen)
        for _ in range(20):
            bad = keys[d] == keys[idx][:, None]
            if not bad.any():
                break
            d[bad] = torch.randint(0, n, (int(bad.sum()),), generator=gen)
        valid = keys[d] != keys[idx][:, None]                         # (B, K-1) distractors that differ
        scores = torch.einsum("bd,bkd->bk", query[idx].cpu(), candidates.cpu()[d])
        ranks[idx] = ((scores > true_score[idx][:, None]) & valid).sum(1)
    return {f"R@{k}": (ranks < k).float().mean().item() for k in ks}


# -- re-phrasing descriptions --------------------------------------------------------------------


#: Phrasings per Fashion-MNIST item for CLIP training (each template twice, with other lexicon words).
FASHION_REPHRASINGS = 10


def rephrasings(data) -> list[list[str]] | None:
    """Every training phrasing of every item: T lists of N descriptions.

    The catalogue and Fashion-MNIST describe items from their attributes with
    a few templates; this writes each catalogue item with every *training*
    template, and each Fashion-MNIST item ``FASHION_REPHRASINGS`` times, cycling
    through the templates with words drawn from the training lexicon
    (``pgan_lib.data.lexicon``). Other data (a folder of photos) have no rules, so None.
    """
    if data.name == "catalog":
        cat, col, pat = (data.attributes[k].tolist() for k in ("category", "colour", "pattern"))
        return [[describe(CATEGORIES[a], COLOURS[b], PATTERNS[c], template=t) for a, b, c in zip(cat, col, pat)]
                for t in TRAIN_TEMPLATES]
    if data.name == "fashion-mnist":
        out = []
        for k in range(FASHION_REPHRASINGS):      # template k mod 5, class/shade/fit words drawn anew each time
            cls, shade, fit = fashion_word_choices(data.labels, data.attributes["shade"], data.attributes["fit"], seed=k)
            out.append([describe_fashion(a, b, c, k % len(TEMPLATES)) for a, b, c in zip(cls, shade, fit)])
        return out
    return None


# -- the model -----------------------------------------------------------------------------------


class CLIP(KitModel):
    """Image encoder + Transformer text encoder trained with the symmetric InfoNCE loss."""

    arch = "clip"
    Config = CLIPConfig

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__(config)
        c = config
        if not c.vocab:
            raise ValueError("a CLIP needs a vocabulary: CLIPConfig(vocab=TextTokenizer.build(texts).vocab)")
        self.image_encoder = ImageEncoder(c.channels, c.size, c.image_width, c.embed_dim)
        self.text_encoder = TextEncoder(c.text_config())
        # log s, the log inverse temperature; s = exp(log_scale) is clamped to at most 100 (as in CLIP).
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    @property
    def tokenizer(self):
        return self.text_encoder.tokenizer

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> unit embeddings (N, embed_dim)."""
        return F.normalize(self.image_encoder(x.to(self.device).float()), dim=-1)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (N, max_len) -> unit embeddings (N, embed_dim)."""
        return F.normalize(self.text_encoder(tokens.to(self.device)), dim=-1)

    def encode_texts(self, texts: list[str], check: bool = True) -> torch.Tensor:
        """Descriptions -> unit embeddings (N, embed_dim); see ``TextTokenizer.encode`` for ``check``."""
        return self.encode_tokens(self.tokenizer.encode(list(texts), check=check))

    def text_condition(self) -> TextCondition:
        """The text encoder behind the kit's condition interface (unit-length sentence embeddings)."""
        return TextCondition(self.text_encoder)

    def similarity(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Cosine similarity of every image with every description, (N_images, N_texts)."""
        return self.encode_images(images) @ self.encode_texts(texts).t()

    @torch.no_grad()
    def embed_data(self, data, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit image and text embeddings of a whole split, each (N, embed_dim), on the CPU."""
        was = self.training
        self.eval()
        tokens = self.tokenizer.encode(data.descriptions, check=False)
        imgs, txts = [], []
        for i in range(0, len(data), batch_size):
            imgs.append(self.encode_images(data.float_images(slice(i, i + batch_size))).cpu())
            txts.append(self.encode_tokens(tokens[i:i + batch_size]).cpu())
        self.train(was)
        return torch.cat(imgs), torch.cat(txts)

    @torch.no_grad()
    def retrieval(self, data, n_candidates: int = 100, seed: int = 0) -> dict[str, float]:
        """Text->image R@1/R@5 and image->text R@1/R@5 among ``n_candidates`` on a split (see ``retrieval_recall``)."""
        u, v = self.embed_data(data)
        keys = attribute_keys(data)
        t2i = retrieval_recall(v, u, keys, n_candidates, seed=seed)
        i2t = retrieval_recall(u, v, keys, n_candidates, seed=seed)
        return {**{f"t2i_{k}": x for k, x in t2i.items()}, **{f"i2t_{k}": x for k, x in i2t.items()}}

    # -- trainer interface -------------------------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """AdamW; weight decay on weight matrices and kernels only."""
        decay = [p for n, p in self.named_parameters() if p.ndim > 1 and "embed" not in n]
        rest = [p for n, p in self.named_parameters() if not (p.ndim > 1 and "embed" not in n)]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        return {"main": adam(groups, lr=lr, decoupled=True)}

    def batch_extra(self, data: ProductData) -> dict[str, torch.Tensor]:
        """Tokens of every training phrasing of every item (N, T, max_len) and the attribute keys (N,)."""
        texts = rephrasings(data) if self.config.rephrase else None
        if texts is None:
            texts = [data.descriptions]
        tokens = torch.stack([self.tokenizer.encode(t, check=False) for t in texts], dim=1)   # (N, T, L)
        return {"tokens": tokens, "keys": attribute_keys(data)}

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:
        tokens = batch.extra["tokens"]                                   # (N, T, L)
        n, t, _ = tokens.shape
        pick = torch.randint(0, t, (n,), device=tokens.device)
        tokens = tokens[torch.arange(n, device=tokens.device), pick]    # (N, L): one phrasing per item
        if self.config.word_dropout > 0:
            drop = (torch.rand(tokens.shape, device=tokens.device) < self.config.word_dropout) & (tokens > 1)
            tokens = torch.where(drop, torch.ones_like(tokens), tokens)
        x = random_shift_flip(batch.x, self.config.shift, flip=False)
        u = F.normalize(self.image_encoder(x), dim=-1)
        v = F.normalize(self.text_encoder(tokens), dim=-1)
        loss = contrastive_loss(u, v, self.scale, batch.extra["keys"])
        ctx.step("main", loss)
        return {"loss": loss.detach(), "scale": self.scale.detach()}

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """Retrieval on the validation split (``val_t2i_R@1`` is the early-stopping metric) and the loss."""
        u, v = self.embed_data(data)
        keys = attribute_keys(data)
        out = {f"val_t2i_{k}": x for k, x in retrieval_recall(v, u, keys, 100).items()}
        out.update({f"val_i2t_{k}": x for k, x in retrieval_recall(u, v, keys, 100).items()})
        losses = [contrastive_loss(u[i:i + 256].to(self.device), v[i:i + 256].to(self.device), self.scale,
                                   keys[i:i + 256].to(self.device)).item() for i in range(0, len(u) - 255, 256)]
        if losses:
            out["val_loss"] = sum(losses) / len(losses)
        return out


__all__ = ["CLIPConfig", "ImageEncoder", "CLIP", "soft_targets", "contrastive_loss", "attribute_keys",
           "mismatched_index", "retrieval_recall", "rephrasings"]
