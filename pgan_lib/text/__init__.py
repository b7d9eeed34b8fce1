"""Text: the one tokeniser, the Transformer text encoder, and the condition interface every conditional model uses.

    tokenizer.py   normalise, TextTokenizer (words -> ids), TextWarning
    subword.py     character n-grams, hashing, SubwordReader (an unknown word -> the known word it is read as)
    encoder.py     TextEncoder (ids -> word and sentence vectors)
    condition.py   ConditionEncoder and its kinds: LabelEncoder, BagOfWordsEncoder, TextCondition
"""
from .condition import BagOfWordsEncoder, ConditionEncoder, LabelEncoder, TextCondition, make_condition
from .encoder import Block, SelfAttention, TextEncoder, TextEncoderConfig
from .tokenizer import COMPOUNDS, PAD, SYNONYMS, UNK, TextTokenizer, TextWarning, fold_to_ascii, normalise, singular, split_words

__all__ = [
    "PAD", "UNK", "COMPOUNDS", "SYNONYMS", "TextWarning", "fold_to_ascii", "singular", "normalise", "split_words",
    "TextTokenizer", "TextEncoderConfig", "SelfAttention", "Block", "TextEncoder",
    "ConditionEncoder", "LabelEncoder", "BagOfWordsEncoder", "TextCondition", "make_condition",
]
