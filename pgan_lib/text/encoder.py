"""From token ids to vectors: a small Transformer text encoder.

**Encode** with ``TextEncoder``: token (optionally plus sub-word) and position embeddings, a few
Transformer blocks of masked self-attention ("Attention Is All You Need",
Vaswani et al. 2017), giving one vector per word (*word embeddings*) and
their masked mean, projected, as one vector per description (*sentence
embedding*). Token ids come from ``pgan_lib.text.tokenizer.TextTokenizer``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .subword import MIN_SIMILARITY_LEARNED, NGRAM_MAX, NGRAM_MIN, SubwordReader, bucket_table
from .tokenizer import TextTokenizer, lexicon_words


@dataclass
class TextEncoderConfig:
    vocab: tuple[str, ...] = ()
    max_len: int = 16
    d_model: int = 64          # width of every word vector inside the encoder
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4         # hidden width of each block's MLP = mlp_ratio * d_model
    embed_dim: int = 64        # size of the sentence embedding
    dropout: float = 0.0
    subword_buckets: int = 0   # hash buckets of character n-gram vectors (0: no sub-words, as in older checkpoints)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if self.subword_buckets < 0:
            raise ValueError(f"subword_buckets must be 0 (off) or positive, got {self.subword_buckets}")


class SelfAttention(nn.Module):
    """Multi-head self-attention with a padding mask.

        Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head) + M) V,   Q = X W_q, K = X W_k, V = X W_v

    computed for ``n_heads`` heads of width d_head = d_model / n_heads side by
    side, their outputs concatenated and mixed by W_o. M is 0 where the key is
    a word and a large negative number where it is padding, so no word ever
    attends to padding (its softmax weight is 0).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(x).split(d, dim=2)                            # (N, L, d) each
        q, k, v = (t.view(n, length, h, d // h).transpose(1, 2) for t in (q, k, v))  # (N, h, L, d_head)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // h)             # (N, h, L, L)
        scores = scores.masked_fill(~keep[:, None, None, :], -1e9)       # padding keys get no weight
        weights = self.dropout(scores.softmax(dim=-1))                   # (N, h, L, L), rows sum to 1
        y = (weights @ v).transpose(1, 2).reshape(n, length, d)          # (N, L, d)
        return self.out(y)


class Block(nn.Module):
    """A pre-norm Transformer block: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), keep)                             # (N, L, d)
        return x + self.mlp(self.ln2(x))                                 # (N, L, d)


def masked_mean(words: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of the word vectors over the words only: (N, L, d), keep (N, L) bool -> (N, d).

        mean_n = sum_i m_ni words_ni / max(sum_i m_ni, 1)      m_ni = 1 for a word, 0 for padding

    A row without any word gives zeros (not a division by zero).
    """
    m = keep.unsqueeze(-1).to(words.dtype)                              # (N, L, 1)
    return (words * m).sum(1) / m.sum(1).clamp(min=1.0)                 # (N, d)


class TextEncoder(nn.Module):
    """Token ids (N, L) -> word embeddings (N, L, d_model) and a sentence embedding (N, embed_dim).

        x_w = E_token[w] (+ s(w) with sub-words: the mean of w's character n-gram vectors, see ``subword``)
        h_0 = x_ids + E_position[0..L-1]
        h_l = Block_l(h_{l-1}),  l = 1..n_layers          (words attend to every word, never to padding)
        words    = LN(h_L)
        sentence = W (sum_i m_i words_i / sum_i m_i)      m_i = 1 for a word, 0 for padding

    Because padding is masked in the attention and left out of the mean,
    adding padding never changes the sentence embedding.
    """

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.tokenizer = TextTokenizer(c.vocab, max_len=c.max_len)
        self.token_embed = nn.Embedding(len(self.tokenizer), c.d_model, padding_idx=0)   # (V, d)
        self.pos_embed = nn.Parameter(torch.zeros(c.max_len, c.d_model))                  # (L, d)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_heads, c.mlp_ratio, c.dropout) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.proj = nn.Linear(c.d_model, c.embed_dim)
        nn.init.normal_(self.token_embed.weight, 0.0, 0.02)
        nn.init.normal_(self.pos_embed, 0.0, 0.02)
        if c.subword_buckets:
            b = c.subword_buckets
            self.ngram_embed = nn.Embedding(b + 1, c.d_model, padding_idx=b)                # (B + 1, d), row B = none
            nn.init.normal_(self.ngram_embed.weight, 0.0, 0.02)
            with torch.no_grad():
                self.ngram_embed.weight[b].zero_()
            # n-gram buckets of every vocabulary word (V, G), derived from the vocabulary: not saved
            self.register_buffer("vocab_ngrams", bucket_table(self.tokenizer.vocab, b), persistent=False)
            self.tokenizer.set_reader(SubwordReader(self.tokenizer.vocab, self.subword_vectors,
                                                    min_similarity=MIN_SIMILARITY_LEARNED, center=True,
                                                    real_words=lexicon_words()))

    def subword_vectors(self, words: list[str]) -> torch.Tensor:
        """s(w) (M, d_model): the mean of each word's n-gram vectors (needs ``subword_buckets`` > 0)."""
        b = self.config.subword_buckets
        if not b:
            raise ValueError("this text encoder has no sub-word vectors (subword_buckets=0: it was made before "
                             "them); its tokeniser compares n-gram sets instead")
        table = bucket_table(words, b, NGRAM_MIN, NGRAM_MAX, skip=0).to(self.ngram_embed.weight.device)
        return self._mean_ngrams(table)

    def _mean_ngrams(self, table: torch.Tensor) -> torch.Tensor:
        """(M, G) bucket ids padded with B -> (M, d_model) mean n-gram vectors (zeros for a row without any)."""
        keep = (table != self.config.subword_buckets).unsqueeze(-1).float()         # (M, G, 1)
        return (self.ngram_embed(table) * keep).sum(1) / keep.sum(1).clamp(min=1.0)

    def token_vectors(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) ids -> (N, L, d_model) input word vectors: E[w], plus s(w) with sub-words."""
        x = self.token_embed(tokens)                                                    # (N, L, d)
        if self.config.subword_buckets:
            table: torch.Tensor = self.vocab_ngrams                                     # type: ignore[assignment]
            x = x + self._mean_ngrams(table)[tokens]                                     # (V, d) -> (N, L, d)
        return x

    def word_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) ids -> (N, L, d_model) contextual word vectors (rows at padding positions are meaningless)."""
        if tokens.shape[1] > self.config.max_len:
            raise ValueError(f"token tensor has {tokens.shape[1]} positions; this encoder reads at most {self.config.max_len}")
        keep = tokens != 0                                                # (N, L) True at words
        h = self.token_vectors(tokens) + self.pos_embed[: tokens.shape[1]]  # (N, L, d)
        for block in self.blocks:
            h = block(h, keep)
        return self.ln(h)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) ids -> sentence embeddings (N, embed_dim)."""
        words = self.word_embeddings(tokens)                               # (N, L, d)
        return self.proj(masked_mean(words, tokens != 0))                  # (N, embed_dim)
