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

import re
import warnings
from collections import Counter
from typing import Iterable

import torch
from torch import nn

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class Tokenizer:
    """Lower-cases, splits into words, and maps each word to an id (0 = padding, 1 = unknown word)."""

    def __init__(self, vocab: Iterable[str], max_len: int = 16) -> None:
        words = list(vocab)
        if words[:2] != [PAD, UNK]:
            words = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        self.vocab = tuple(words)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len

    @staticmethod
    def words(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    def known_words(self, text: str) -> list[str]:
        """Words of ``text``; a hyphenated word the vocabulary lacks ("slim-fit") is split into its parts."""
        out: list[str] = []
        for w in self.words(text):
            out.extend([w] if w in self.index or "-" not in w else w.split("-"))
        return out

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int = 16, min_count: int = 1) -> "Tokenizer":
        """A vocabulary of every word seen at least ``min_count`` times in ``texts``, most common first."""
        counts = Counter(w for t in texts for w in cls.words(t))
        return cls([w for w, n in counts.most_common() if n >= min_count], max_len=max_len)

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Token ids (N, max_len), padded with 0; words beyond max_len are dropped."""
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.index.get(w, 1) for w in self.known_words(t)][: self.max_len]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.known_words(text) if w not in self.index]


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

    Padding and words the vocabulary does not know are left out of the mean, so
    an unknown word is ignored rather than pulling the condition somewhere no
    training description ever went.
    """

    kind = "description"

    def __init__(self, vocab: Iterable[str], dim: int, max_len: int = 16) -> None:
        super().__init__(dim)
        self.tokenizer = Tokenizer(vocab, max_len=max_len)
        self.embed = nn.Embedding(len(self.tokenizer.vocab), dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def inputs_for(self, data) -> torch.Tensor:
        return self.tokenizer.encode(data.descriptions)

    def inputs_from_prompts(self, prompts: list[str]) -> torch.Tensor:
        for p in set(prompts):
            if not self.tokenizer.words(p):
                raise ValueError(f"The description {p!r} has no words; describe the product, e.g. 'a dark slim ankle boot'.")
            unknown = self.tokenizer.unknown_words(p)
            if unknown:
                warnings.warn(f"{p!r}: words this model never saw in training are ignored: {', '.join(unknown)}", stacklevel=2)
        return self.tokenizer.encode(prompts)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens > 1).unsqueeze(-1).float()           # (N, L, 1): not padding (0), not unknown (1)
        vecs = self.embed(tokens) * mask                     # (N, L, dim)
        mean = vecs.sum(1) / mask.sum(1).clamp(min=1.0)      # (N, dim)
        return self.mlp(mean)


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
            raise ValueError("a description-conditioned model needs a vocabulary (build it with Tokenizer.build)")
        return BagOfWordsEncoder(vocab, dim)
    raise ValueError(f"Unknown condition kind {kind!r}: use 'none', 'label' or 'description'.")
