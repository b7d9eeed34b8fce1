"""Sub-words: reading a word the vocabulary does not know through its character n-grams (as in fastText).

A word is written with boundary marks, "<sneeker>", and cut into every
character n-gram of length 3 to 5:

    G("sneeker") = {"<sn", "sne", "nee", "eek", "eke", "ker", "er>", "<sne", ..., "eker>"}

Each n-gram g is hashed into one of B buckets (FNV-1a, 32 bit, so the same on
every machine) and every bucket has a vector z_b. A word's sub-word vector is
the mean of its n-grams' vectors,

    s(w) = 1/|G(w)| sum_{g in G(w)} z_hash(g)

and a text encoder with sub-words (``TextEncoderConfig.subword_buckets > 0``)
gives a known word the vector E[w] + s(w) (Bojanowski et al. 2017, "Enriching
word vectors with subword information"), learned together with the rest.

A misspelt word shares most of its n-grams with the word meant ("sneeker" and
"sneaker" share "<sn", "sne", "ker", "er>", ...), so s("sneeker") lies close to
s("sneaker") although "sneeker" was never seen. The tokeniser's unknown-word
path uses that: an unknown word is read as the known word whose sub-word vector
is nearest (cosine) when it is close enough, and a warning says so
("'sneeker' read as 'sneaker'"). Without learned vectors (older checkpoints,
the bag-of-words encoder) each bucket's vector is its own unit direction, and
the cosine becomes the overlap of the two n-gram sets.

Short words have few n-grams ("tee" has six), so one typo can change most of
them. So a word of at least four letters within one edit (insert, delete,
substitute, swap two neighbours) of a known word of at least three letters is
read as that word first (the most similar by sub-words when there are several);
only then are sub-words compared. Shorter words are not guessed that way
("big" is one edit from "bag", "tip" from "top"), except when nothing else in a
description can be read (``relaxed``: words of two letters and more): then
guessing, with a warning, beats refusing. Likewise when a description names no
product word the vocabulary knows: an unknown word one edit from a product word
is read as it ("tep" -> "tee"; ``among`` limits the answer to those words).
Common English function words ("the", "and", "for", ..., ``FUNCTION_WORDS``)
are never read as something else: "the" is one edit from "tee". Nor are the
words of the kit's own lexicons read as another word by sub-words
(``tokenizer.lexicon_words``): they are words in their own right, so "grey" is
left out by the catalogue's model, which has no grey, instead of becoming
"green", with which it shares "<gr", "gre" and "<gre" (as "reddish" shares
"<re", "red" and "<red" with "red": n-grams alone cannot tell the two apart).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

#: Default sub-word settings: n-gram lengths and the number of hash buckets.
NGRAM_MIN, NGRAM_MAX = 3, 5
#: Least cosine between sub-word vectors for an unknown word to be read as a known one:
#: untrained vectors (n-gram overlap), and learned ones (centred, see ``SubwordReader``).
MIN_SIMILARITY = 0.5
MIN_SIMILARITY_LEARNED = 0.8
#: Words a description may contain that are not misspellings of anything.
FUNCTION_WORDS: frozenset[str] = frozenset(
    "the and for with that this these those its are was were not but any all can has have her his one our out "
    "who new very from into like look looking want need some also just".split())


def char_ngrams(word: str, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX) -> list[str]:
    """The character n-grams of "<word>", shortest first; a word shorter than n_min gives its marked self.

    >>> char_ngrams("tee")
    ['<te', 'tee', 'ee>', '<tee', 'tee>', '<tee>']
    """
    marked = f"<{word}>"
    grams = [marked[i:i + n] for n in range(n_min, n_max + 1) for i in range(len(marked) - n + 1)]
    return grams or [marked]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a hash of the UTF-8 bytes (the hash fastText uses): stable across runs and machines."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def ngram_buckets(word: str, buckets: int, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX) -> list[int]:
    """Bucket ids (0..buckets-1) of the word's n-grams."""
    return [fnv1a(g) % buckets for g in char_ngrams(word, n_min, n_max)]


def bucket_table(words: Sequence[str], buckets: int, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX,
                 skip: int = 2) -> torch.Tensor:
    """Bucket ids of every word's n-grams, (V, G_max), padded with ``buckets`` (an index past the last bucket).

    The first ``skip`` words (``<pad>``, ``<unk>``) get no n-grams at all.
    """
    rows = [[] if i < skip else ngram_buckets(w, buckets, n_min, n_max) for i, w in enumerate(words)]
    width = max([len(r) for r in rows] + [1])
    out = torch.full((len(rows), width), buckets, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def within_one_edit(a: str, b: str) -> bool:
    """True when b is a, or a with one letter inserted, deleted or replaced, or two neighbours swapped."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def plural_forms(word: str) -> tuple[str, ...]:
    """The word and the plurals English might make of it: coat, coats, coates; booty, booties."""
    forms = (word, word + "s", word + "es")
    return forms + ((word[:-1] + "ies",) if word.endswith("y") else ())


class SubwordReader:
    """Unknown word -> the known word it is read as (or None), by sub-word vectors.

    ``vocab`` is the tokeniser's vocabulary (``<pad>``, ``<unk>`` first);
    ``vectors`` gives sub-word vectors s(w) (M, d) for a list of M words: the
    encoder's learned ``subword_vectors``, or by default the untrained one
    (each bucket its own direction: n-gram overlap). ``min_similarity`` is the
    least cosine for a match. With ``center`` the mean sub-word vector of the
    vocabulary is subtracted first: learned vectors share a common direction
    (every word's mean of n-grams leans the same way), which would make
    unrelated words look alike. ``real_words`` are words in their own right (the kit's lexicons,
    ``tokenizer.lexicon_words``): never read as another word by sub-words, only within one edit.
    """

    def __init__(self, vocab: Sequence[str], vectors: Callable[[list[str]], torch.Tensor] | None = None,
                 min_similarity: float = MIN_SIMILARITY, buckets: int = 4096, center: bool = False,
                 real_words: frozenset[str] = frozenset()) -> None:
        self.words = [w for w in vocab[2:] if w.isalpha()]
        self.buckets = buckets
        self.vectors = vectors or self.overlap_vectors
        self.min_similarity = min_similarity
        self.center = center
        self.real_words = real_words
        self._known: torch.Tensor | None = None
        self._mean: torch.Tensor | float = 0.0

    def overlap_vectors(self, words: list[str]) -> torch.Tensor:
        """Untrained sub-word vectors: n-gram counts per bucket (M, buckets); their cosine is the n-gram overlap."""
        out = torch.zeros(len(words), self.buckets)
        for i, w in enumerate(words):
            for b in ngram_buckets(w, self.buckets):
                out[i, b] += 1.0
        return out

    def _similarities(self, word: str) -> torch.Tensor:
        if self._known is None:
            known = self.vectors(self.words).float()                              # (M, d)
            self._mean = known.mean(0) if self.center else 0.0
            self._known = F.normalize(known - self._mean, dim=-1)
        s = F.normalize(self.vectors([word]).float() - self._mean, dim=-1)       # (1, d)
        return (self._known @ s.t()).squeeze(1)                                   # (M,)

    @torch.no_grad()
    def nearest(self, word: str, relaxed: bool = False, written: str | None = None,
                among: frozenset[str] | None = None) -> tuple[str, float, str] | None:
        """(known word, cosine, how) for an unknown ``word``, or None when nothing is close.

        ``how`` is "one edit" (a known word of at least three letters within one edit, the most
        similar by sub-words among several) or "sub-words" (cosine >= min_similarity; never for
        one of ``real_words``). ``relaxed`` also reads shorter words within one edit (see the
        module docstring). ``written`` is the word before it was made singular ("dreas" for
        "drea"), when it differs. ``among``: only these known words may be the answer, and only
        by one edit.
        """
        written = written or word
        if not self.words or not word.isalpha() or len(written) < (2 if relaxed else 3) or word in FUNCTION_WORDS:
            return None
        sim = self._similarities(word)
        shortest = 2 if relaxed else 4
        # words arrive singular ("dreas" -> "drea") and the vocabulary holds singular forms ("jean"):
        # compare as written and with plural forms too, so "jeais" is one edit from "jeans", "dreas" from
        # "dress", "booites" from "booties"
        mine = {word, written}
        close = [i for i, w in enumerate(self.words)
                 if len(w) >= 3 and len(written) >= shortest and (among is None or w in among)
                 and any(within_one_edit(a, b) for a in mine for b in plural_forms(w))]
        if close:
            i = max(close, key=lambda j: float(sim[j]))
            return self.words[i], float(sim[i]), "one edit"
        if among is not None or mine & self.real_words:
            return None
        best = int(sim.argmax())
        if float(sim[best]) >= self.min_similarity:
            return self.words[best], float(sim[best]), "sub-words"
        return None


__all__ = ["NGRAM_MIN", "NGRAM_MAX", "MIN_SIMILARITY", "MIN_SIMILARITY_LEARNED", "FUNCTION_WORDS", "char_ngrams",
           "fnv1a", "plural_forms", "ngram_buckets", "bucket_table", "within_one_edit", "SubwordReader"]
