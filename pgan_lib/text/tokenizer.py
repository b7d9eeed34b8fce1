"""From words to token ids: the kit's one tokeniser.

A description such as "A red, striped T-shirt!" goes through two steps here
(a third, ``pgan_lib.text.encoder``, turns the ids into vectors):

1. **Normalise** (``normalise``): Unicode is folded to ASCII ("café" -> "cafe",
   typographic dashes -> "-"), everything is lower-cased, punctuation splits
   words, and common variants are mapped together the way a shopper expects:

   - hyphenation:  "t-shirt", "tshirt" and "t shirt" all become ``tshirt`` (a hyphenated word
     within one edit of a compound is kept whole too: "t-shirl" -> ``tshirl``, read below);
     other hyphenated words are split ("slim-fit" -> "slim fit");
   - number:       plurals become singular ("sandals" -> ``sandal``,
     "dresses" -> ``dress``, "trousers" -> ``trouser``);
   - synonyms:     a word the vocabulary does not know is replaced by a
     synonym it does know ("tee" -> ``tshirt``, "sweater" -> ``pullover``,
     "gray" -> ``grey``), see ``SYNONYMS``;
   - sub-words:    any other unknown word is read as the known word nearest to it by
     character n-grams ("sneekers" -> ``sneaker``, "coaat" -> ``coat``), when one is close
     enough (``pgan_lib.text.subword``); a ``TextWarning`` names every word read that way.

2. **Look up** every word in a vocabulary built from the training
   descriptions (``TextTokenizer.build``). Id 0 is padding, id 1 ``<unk>``,
   the unknown-word token. The vocabulary is a tuple of strings in the
   model's config, so it is saved inside every checkpoint and comes back
   with it.

What happens with awkward input (``TextTokenizer.encode``):

    empty text, or only punctuation / symbols   ValueError ("describe the product ...")
    only unknown words                          ValueError naming them and the closest known words
    a misspelt or derived word                  read as the nearest known word by sub-words; a TextWarning
                                                says "'sneeker' read as 'sneaker'"
    no product word, a short word one edit      read as that product word ("a dark slim tep" -> ``top``
    from one ("tep", "bsg")                     or ``tee``), with the same warning: a description names
                                                a product, so the one-edit product word is the best guess
    some unknown words                          left out (unknown="drop", the default) or read as
                                                <unk> (unknown="unk"); either way a TextWarning names them
    more than max_len words                     the first max_len words are kept; a TextWarning says so
    non-ASCII text                              accents are folded ("beige clair" == "béige clair");
                                                other non-ASCII characters separate words like spaces

Why leave unknown words out rather than write <unk>? A model trained on a few
templates has seen <unk> only where training hid a word (word dropout, about
one word in ten). "looking for a coat that is dark and slim" would be five
<unk> among nine words, a sentence unlike any it has read; without them it
reads "a coat dark slim", which it understands (notebook 05 measures both).

so a bad description is reported where it is typed, never as a crash deep
inside a model.
"""
from __future__ import annotations

import difflib
import functools
import re
import unicodedata
import warnings
from collections import Counter
from typing import Iterable, Sequence

import torch

from ..data.lexicon import PRODUCT_PHRASES, training_words
from .subword import SubwordReader, within_one_edit

PAD, UNK = "<pad>", "<unk>"

# ----------------------------------------------------------------------------- normalisation

#: Words written as one in the vocabulary, however they are hyphenated or spaced.
COMPOUNDS: tuple[str, ...] = ("tshirt", "teeshirt", "handbag", "flipflop", "sweatshirt")

#: Groups of words a shopper uses for the same thing. A word the vocabulary does not know is
#: replaced by the first word of its group that the vocabulary knows (per dataset: "bag" in
#: Fashion-MNIST, "handbag" in the catalogue). Every word here is already singular.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("tshirt", "tee", "top", "teeshirt"),
    ("trouser", "pant", "jean", "slack", "chino"),
    ("pullover", "sweater", "jumper", "sweatshirt", "hoodie"),
    ("dress", "gown", "frock"),
    ("coat", "jacket", "parka", "overcoat"),
    ("sandal", "flipflop", "slider"),
    ("shirt", "blouse"),
    ("sneaker", "trainer", "runner"),
    ("bag", "handbag", "purse", "tote"),
    ("boot", "bootie", "booty"),
    ("mug", "cup"),
    ("grey", "gray"),
    ("colour", "color"),
    ("striped", "stripy", "stripey", "stripe", "pinstriped", "pinstripe"),
    ("dotted", "spotted", "spotty", "dot", "spot", "polka", "dotty"),
    ("plain", "solid", "uni"),
    ("light", "pale"),
    ("slim", "narrow", "skinny", "tight", "thin"),
    ("wide", "loose", "baggy", "broad", "oversized"),
    ("regular", "standard", "normal"),
)

#: Plurals the suffix rules below would get wrong.
IRREGULAR_PLURALS: dict[str, str] = {"jeans": "jean", "trousers": "trouser", "pants": "pant", "glasses": "glass"}
#: Words ending in "s" that are not plurals.
NOT_PLURAL: frozenset[str] = frozenset({"dress", "this", "is", "was", "has", "its", "plus", "us", "as", "yes", "gas",
                                       "canvas", "bus", "lens", "chaos", "always", "various", "famous"})

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class TextWarning(UserWarning):
    """A description was changed to fit the model (unknown words, too long); the message says how."""


def fold_to_ascii(text: str) -> str:
    """Lower-cased ASCII: accents removed (NFKD, then the combining marks dropped), dashes unified,
    every other non-ASCII character replaced by a space."""
    text = unicodedata.normalize("NFKD", text.translate(_DASHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return "".join(ch if ord(ch) < 128 else " " for ch in text).lower()


def singular(word: str) -> str:
    """A plural noun's singular by simple English rules: sandals -> sandal, dresses -> dress, boxes -> box."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if len(word) <= 3 or word in NOT_PLURAL or word.endswith(("ss", "us", "is")) or not word.endswith("s"):
        return word
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1]


def normalise(text: str) -> list[str]:
    """The words of ``text`` after folding, splitting, compounding and singularising (no vocabulary needed).

    >>> normalise("Two T-Shirts & a pair of slim-fit trousers")
    ['two', 'tshirt', 'a', 'pair', 'of', 'slim', 'fit', 'trouser']
    """
    return [w for w, _ in normalise_written(text)]


def normalise_written(text: str) -> list[tuple[str, str]]:
    """(normalised word, word as written after folding and compounding) for every word of ``text``:
    ``normalise`` with the plural forms kept beside ("booties" -> ("booty", "booties"))."""
    if not isinstance(text, str):
        raise TypeError(f"a description must be a string, got {type(text).__name__}")
    words: list[str] = []
    for token in _WORD.findall(fold_to_ascii(text)):
        joined = token.replace("-", "")
        if "-" in token and not any(within_one_edit(singular(joined), c) for c in COMPOUNDS):
            words.extend(token.split("-"))        # "slim-fit" -> "slim", "fit"
        else:
            words.append(joined)                  # "t-shirt" -> "tshirt"
    out: list[str] = []
    i = 0
    while i < len(words):                         # "t shirt" -> "tshirt", "hand bags" -> "handbag"
        if i + 1 < len(words) and singular(words[i] + words[i + 1]) in COMPOUNDS:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return [(singular(w), w) for w in out]



#: The last word of every product phrase, normalised ("strappy sandals" -> "sandal", "t-shirt" -> "tshirt").
PRODUCT_WORDS: frozenset[str] = frozenset(normalise(phrase)[-1] for phrase in PRODUCT_PHRASES)


@functools.lru_cache(maxsize=1)
def lexicon_words() -> frozenset[str]:
    """Every word of the kit's own lexicons, normalised: both data sets' training words and ``SYNONYMS``.

    They are words in their own right, not misspelt or derived forms of another word, so the
    sub-word path never reads one as another: a catalogue model leaves "grey" out (it has no grey)
    rather than read it as "green", and a Fashion-MNIST model leaves out "pair" (in "a pair of
    jeans") rather than read it as a fit word.
    """
    words = {w for dataset in ("fashion-mnist", "catalog") for w in training_words(dataset)}
    return frozenset({w for phrase in words for w in normalise(phrase)} | {w for group in SYNONYMS for w in group})


def split_words(text: str) -> list[str]:
    """Lower-cased words and numbers of ``text``, hyphenated words kept whole: the plain split
    (no folding, compounding or singular forms) that evaluation uses to find attribute phrases."""
    return _WORD.findall(text.lower())


# ----------------------------------------------------------------------------- the tokeniser


class TextTokenizer:
    """Normalised words -> ids of a fixed vocabulary; see the module docstring for the rules.

    ``vocab`` starts with ``<pad>`` (id 0) and ``<unk>`` (id 1); ``max_len`` is
    the most words a description may have (longer ones are cut, with a warning);
    ``unknown`` says what becomes of unknown words in checked text: "drop" (left
    out) or "unk" (read as ``<unk>``).
    """

    def __init__(self, vocab: Iterable[str], max_len: int = 16, unknown: str = "drop") -> None:
        if unknown not in ("drop", "unk"):
            raise ValueError(f"unknown must be 'drop' or 'unk', got {unknown!r}")
        self.unknown = unknown
        words = list(vocab)
        if words[:2] != [PAD, UNK]:
            words = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.vocab: tuple[str, ...] = tuple(words)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len
        # Unknown word -> the known word it is read as, by sub-words (None: nothing close); see ``subword``.
        # An encoder with learned sub-word vectors replaces ``reader`` with one that uses them.
        self.reader = SubwordReader(self.vocab, real_words=lexicon_words())
        # The known words that name a product (every description names one; see ``_guess``).
        self.product_words = frozenset(w for w in self.vocab if w in PRODUCT_WORDS)
        self._read_as: dict[tuple[str, str], tuple[str, float, str] | None] = {}
        # Variant -> the first word of its synonym group that this vocabulary knows.
        self.synonym_of: dict[str, str] = {}
        for group in SYNONYMS:
            known = [w for w in group if w in self.index]
            if known:
                for w in group:
                    if w not in self.index:
                        self.synonym_of[w] = known[0]

    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int = 16, min_count: int = 1) -> "TextTokenizer":
        """The vocabulary of every normalised word seen at least ``min_count`` times, most common first."""
        counts = Counter(w for t in texts for w in normalise(t))
        return cls([w for w, n in counts.most_common() if n >= min_count], max_len=max_len)

    def set_reader(self, reader: SubwordReader) -> None:
        """Read unknown words with ``reader`` from now on (forgets the words read so far)."""
        self.reader = reader
        self._read_as = {}

    def read_as(self, word: str, written: str | None = None) -> tuple[str, float, str] | None:
        """(known word, cosine, how) that the unknown normalised ``word`` (``written`` before singular) is read
        as, or None (see ``subword``)."""
        key = (word, written or word)
        if key not in self._read_as:
            self._read_as[key] = self.reader.nearest(word, written=written)
        return self._read_as[key]

    def words(self, text: str) -> list[str]:
        """Normalised words with synonyms and sub-word matches mapped to known words (what the model reads).

        A synonym that repeats the word before it is dropped ("polka dots" -> "dotted", not "dotted dotted").
        Includes the guesses of ``read``, so it lists exactly the words ``ids`` encodes (before dropping).
        """
        return [w for w, _ in self.read(text)]

    def reading(self, word: str, written: str | None = None) -> tuple[str | None, str]:
        """(known word, how) for one normalised ``word`` (``written`` before singular): the word itself
        ("known"), its synonym ("synonym table"), a sub-word match ("one edit" or "sub-words"), or
        (None, "left out")."""
        if word in self.index:
            return word, "known"
        if word in self.synonym_of:
            return self.synonym_of[word], "synonym table"
        match = self.read_as(word, written)
        return (match[0], match[2]) if match else (None, "left out")

    def readings(self, text: str) -> list[tuple[str, str]]:
        """(word read, word written) for every normalised word of ``text``; they differ where a synonym or
        a sub-word match replaced the written word, and an unknown word is read as itself."""
        out: list[tuple[str, str]] = []
        for w, written in normalise_written(text):
            known, how = self.reading(w, written)
            if how == "known" or known is None:
                out.append((w, w))
            elif not out or out[-1][0] != known:
                out.append((known, w))
        return out

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` this vocabulary does not know (after normalisation and synonyms)."""
        return [w for w in self.words(text) if w not in self.index]

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """Known words that look like ``word`` (for error messages)."""
        return difflib.get_close_matches(word, self.vocab[2:], n=n, cutoff=0.6)

    def _guess(self, text: str, pairs: list[tuple[str, str]], among: frozenset[str] | None = None
               ) -> list[tuple[str, str]]:
        """Unknown words of ``pairs`` read as a known word within one edit, short words included
        (``SubwordReader.nearest(relaxed=True)``), only as one of ``among`` when given. Used where
        refusing or dropping helps nobody: a description none of whose words is known, and one that
        names no product (``among=self.product_words``: "a dark slim tep" -> "tee")."""
        raw = dict(normalise_written(text))
        out = []
        for read, word in pairs:
            match = None
            if read not in self.index:
                match = self.reader.nearest(word, relaxed=True, written=raw.get(word), among=among)
            out.append((match[0], word) if match else (read, word))
        return out

    def read(self, text: str) -> list[tuple[str, str]]:
        """``readings`` of a shopper's description, with the two guesses of ``_guess``: a description that
        names no known product reads a word one edit from a product word as that word, and one none of
        whose words is known reads each word as the nearest known word within one edit."""
        pairs = self.readings(text)
        if self.product_words and not any(w in self.product_words for w, _ in pairs):
            pairs = self._guess(text, pairs, among=self.product_words)
        if pairs and all(w not in self.index for w, _ in pairs):
            pairs = self._guess(text, pairs)
        return pairs

    def ids(self, text: str, check: bool = True) -> list[int]:
        """Token ids of one description (no padding). With ``check``, awkward input is handled as documented;
        without it (training data, whose words are all known), unknown words become <unk> silently."""
        pairs = self.read(text) if check else self.readings(text)
        words = [w for w, _ in pairs]
        if check and not words:
            raise ValueError(f"The description {text!r} has no words the model can read; "
                             "describe the product, e.g. 'a red striped mug'.")
        ids = [self.index.get(w, 1) for w in words]
        if check:
            unknown = [w for w in words if w not in self.index]
            shown = repr(text) if len(text) <= 60 else repr(text[:57] + "...")
            if unknown and len(unknown) == len(words):
                hints = {w: self.suggestions(w) for w in unknown}
                hint = "; ".join(f"{w!r}: did you mean {' / '.join(s)}?" for w, s in hints.items() if s)
                raise ValueError(f"None of the words of {shown} is known to this model ({', '.join(unknown)}). "
                                 + (hint + " " if hint else "")
                                 + f"Known words include: {', '.join(self.vocab[2:14])}, ...")
            raw = dict(normalise_written(text))
            guessed = {raw.get(w, w): k for k, w in pairs if k != w and w not in self.synonym_of}
            if guessed:
                warnings.warn(f"{shown}: read by sub-words (spelling): "
                              + ", ".join(f"{w!r} as {k!r}" for w, k in guessed.items()), TextWarning, stacklevel=3)
            if unknown:
                how = "left out" if self.unknown == "drop" else "read as <unk>"
                warnings.warn(f"{shown}: unknown words are {how}: {', '.join(unknown)}", TextWarning, stacklevel=3)
                if self.unknown == "drop":
                    ids = [i for i in ids if i != 1]
            if len(ids) > self.max_len:
                warnings.warn(f"{shown} has {len(ids)} words; only the first {self.max_len} are read", TextWarning,
                              stacklevel=3)
        return ids[: self.max_len]

    def encode(self, texts: Sequence[str], check: bool = True) -> torch.Tensor:
        """Token ids (N, max_len), padded with 0. ``check=False`` (training data) skips the warnings and errors."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of descriptions; wrap a single one in a list")
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        seen: dict[str, list[int]] = {}      # each distinct text is read (and warned about) once
        for i, t in enumerate(texts):
            ids = seen.get(t)
            if ids is None:
                ids = seen[t] = self.ids(t, check=check)
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids of one description back to its (normalised) words, padding left out."""
        return " ".join(self.vocab[int(i)] for i in ids if int(i) != 0)
