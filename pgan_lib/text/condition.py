"""Conditions: how a model is told *which* product to make.

A condition encoder turns a class label or a description into a vector ``c``
(N, dim) that a generator or decoder consumes. Every conditional model in the
kit (conditional VAE, conditional GAN, text-to-image GAN) uses this one
interface, so a stronger text encoder can replace the label embedding without
touching the model:

    enc.inputs_for(data)        -> per-item inputs of a whole split (labels (N,) or tokens (N, L))
    enc.inputs_from_labels(ys)  -> inputs for chosen classes
    enc.inputs_from_prompts(ts) -> inputs for typed descriptions
    enc(inputs)                 -> c, (N, dim)
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import TextEncoder
from .tokenizer import TextTokenizer, normalise


class ConditionEncoder(nn.Module):
    """Base class; see the module docstring for the interface."""

    kind = "none"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def inputs_for(self, data) -> torch.Tensor:
        raise NotImplementedError

    def inputs_from_labels(self, labels: torch.Tensor | list[int]) -> torch.Tensor:
        raise ValueError(f"This model is conditioned on {self.kind}s; give prompts, not labels.")

    def inputs_from_prompts(self, prompts: list[str]) -> torch.Tensor:
        raise ValueError(f"This model is conditioned on {self.kind}s; give class labels, not prompts.")


class LabelEncoder(ConditionEncoder):
    """c = E[y]: one learned vector per product class."""

    kind = "label"

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(dim)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, dim)

    def inputs_for(self, data) -> torch.Tensor:
        return data.labels

    def inputs_from_labels(self, labels) -> torch.Tensor:
        y = torch.as_tensor(labels, dtype=torch.long)
        if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got {y.tolist()[:10]}")
        return y

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.embed(y)  # (N,) -> (N, dim)


class BagOfWordsEncoder(ConditionEncoder):
    """c = MLP(mean of the word vectors of the description); word order is ignored.

    Descriptions are read by the kit's one tokeniser (``TextTokenizer``): words a
    vocabulary does not know are left out with a ``TextWarning``, so an unknown
    word is ignored rather than pulling the condition somewhere no training
    description ever went; padding and ``<unk>`` are left out of the mean.
    """

    kind = "description"

    def __init__(self, vocab: Iterable[str], dim: int, max_len: int = 16) -> None:
        super().__init__(dim)
        # Vocabularies saved before the tokeniser normalised words hold e.g. "t-shirt": read it as "tshirt",
        # at the same id, so older checkpoints keep their embeddings.
        words = [w if w.startswith("<") else " ".join(normalise(w)) or w for w in vocab]
        self.tokenizer = TextTokenizer(words, max_len=max_len)
        self.embed = nn.Embedding(len(self.tokenizer.vocab), dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def inputs_for(self, data) -> torch.Tensor:
        return self.tokenizer.encode(data.descriptions, check=False)

    def inputs_from_prompts(self, prompts: list[str]) -> torch.Tensor:
        return self.tokenizer.encode(list(prompts), check=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens > 1).unsqueeze(-1).float()           # (N, L, 1): not padding (0), not unknown (1)
        vecs = self.embed(tokens) * mask                     # (N, L, dim)
        mean = vecs.sum(1) / mask.sum(1).clamp(min=1.0)      # (N, dim)
        return self.mlp(mean)


class TextCondition(ConditionEncoder):
    """A (pre-trained, usually frozen) ``TextEncoder`` behind the kit's condition interface.

        c = normalise(TextEncoder(tokens))       (N, embed_dim), unit length

    Any conditional model can use it like the bag-of-words encoder:
    ``inputs_for(data)`` -> tokens (N, max_len), ``inputs_from_prompts(texts)``
    -> tokens (checked: see ``TextTokenizer.encode``), ``forward(tokens)`` -> c.
    """

    kind = "description"

    def __init__(self, encoder: TextEncoder, normalise_output: bool = True) -> None:
        super().__init__(encoder.config.embed_dim)
        self.encoder = encoder
        self.normalise_output = normalise_output

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.encoder.tokenizer

    def inputs_for(self, data) -> torch.Tensor:
        return self.tokenizer.encode(data.descriptions, check=False)

    def inputs_from_prompts(self, prompts: list[str]) -> torch.Tensor:
        return self.tokenizer.encode(list(prompts), check=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        e = self.encoder(tokens.to(self.encoder.pos_embed.device))       # (N, embed_dim)
        return F.normalize(e, dim=-1) if self.normalise_output else e


def make_condition(kind: str, dim: int, num_classes: int = 0, vocab: Iterable[str] = ()) -> ConditionEncoder | None:
    """The encoder for ``kind``: "none" (None), "label" or "description"."""
    if kind == "none":
        return None
    if kind == "label":
        if num_classes < 1:
            raise ValueError("a label-conditioned model needs num_classes >= 1")
        return LabelEncoder(num_classes, dim)
    if kind == "description":
        vocab = list(vocab)
        if not vocab:
            raise ValueError("a description-conditioned model needs a vocabulary (build it with TextTokenizer.build)")
        return BagOfWordsEncoder(vocab, dim)
    raise ValueError(f"Unknown condition kind {kind!r}: use 'none', 'label' or 'description'.")
