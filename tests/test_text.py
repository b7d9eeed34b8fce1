"""The text side: normalisation, the tokeniser's edge cases, the vocabulary in a checkpoint,
and the Transformer encoder's shapes and padding mask."""
import warnings

import pytest
import torch

from pgan_lib.checkpoint import save_checkpoint
from pgan_lib.data.attributes import FIT_WORDS, HELD_OUT_TEMPLATES, SHADE_WORDS, TEMPLATES, describe_fashion
from pgan_lib.data.catalog import CATEGORIES, COLOURS, PATTERNS, describe
from pgan_lib.data.catalog import TEMPLATES as CATALOG_TEMPLATES
from pgan_lib.data.fashion_mnist import CLASS_NAMES
from pgan_lib.models.base import load_model
from pgan_lib.models.clip import CLIP, CLIPConfig
from pgan_lib.text import (
    SelfAttention,
    TextCondition,
    TextEncoder,
    TextEncoderConfig,
    TextTokenizer,
    TextWarning,
    fold_to_ascii,
    normalise,
    singular,
)

torch.set_num_threads(1)

FASHION_TEXTS = [describe_fashion(c, s, f, t) for c in CLASS_NAMES for s in SHADE_WORDS for f in FIT_WORDS
                 for t in range(len(TEMPLATES))]
CATALOG_TEXTS = [describe(c, k, p, t) for c in CATEGORIES for k in COLOURS for p in PATTERNS for t in range(6)]


@pytest.fixture(scope="module")
def fashion_tok() -> TextTokenizer:
    return TextTokenizer.build(FASHION_TEXTS, max_len=16)


@pytest.fixture(scope="module")
def catalog_tok() -> TextTokenizer:
    return TextTokenizer.build(CATALOG_TEXTS, max_len=16)


# -- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["t-shirt", "T-Shirt", "tshirt", "t shirt", "T-shirts", "t shirts", "TSHIRTS!"])
def test_tshirt_spellings_are_one_word(text):
    assert normalise(text) == ["tshirt"]


@pytest.mark.parametrize("plural,single", [("sandals", "sandal"), ("dresses", "dress"), ("trousers", "trouser"),
                                           ("sneakers", "sneaker"), ("bags", "bag"), ("boots", "boot"),
                                           ("dress", "dress"), ("mugs", "mug"), ("coats", "coat")])
def test_plurals_become_singular(plural, single):
    assert singular(plural) == single
    assert normalise(plural) == [single]


def test_punctuation_case_and_hyphens():
    assert normalise("A RED, striped mug!!") == ["a", "red", "striped", "mug"]
    assert normalise("slim-fit coat; colour: dark") == ["slim", "fit", "coat", "colour", "dark"]
    assert normalise("shop listing: a pair of trousers") == ["shop", "listing", "a", "pair", "of", "trouser"]
    assert normalise("hand-bag") == normalise("hand bag") == normalise("handbags") == ["handbag"]


def test_non_ascii_is_folded():
    assert fold_to_ascii("Café Crème") == "cafe creme"
    assert normalise("a red\u2013striped mug") == ["a", "red", "striped", "mug"]     # en dash
    assert normalise("a red T\u2011shirt") == ["a", "red", "tshirt"]               # non-breaking hyphen
    assert normalise("紅色 mug ☕") == ["mug"]                                       # other characters separate words


def test_non_string_is_refused():
    with pytest.raises(TypeError, match="string"):
        normalise(None)
    with pytest.raises(TypeError, match="list"):
        TextTokenizer(["mug"]).encode("a mug")


# -- the vocabulary and the shopper's variants ---------------------------------------------------

def test_vocabulary_layout(catalog_tok):
    assert catalog_tok.vocab[:2] == ("<pad>", "<unk>")
    assert len(set(catalog_tok.vocab)) == len(catalog_tok.vocab)
    for word in ("tshirt", "trouser", "handbag", "mug", "red", "striped", "dotted", "plain"):
        assert word in catalog_tok.index
    with pytest.raises(ValueError, match="twice"):
        TextTokenizer(["mug", "mug"])


@pytest.mark.parametrize("cls,variants", [
    ("t-shirt", ["t-shirt", "tshirt", "t shirt", "tee", "top", "t-shirts"]),
    ("trouser", ["trouser", "trousers", "pants", "jeans"]),
    ("pullover", ["pullover", "pullovers", "sweater", "jumper"]),
    ("dress", ["dress", "dresses", "gown"]),
    ("coat", ["coat", "coats", "jacket"]),
    ("sandal", ["sandal", "sandals", "flip-flops"]),
    ("shirt", ["shirt", "shirts", "blouse"]),
    ("sneaker", ["sneaker", "sneakers", "trainers"]),
    ("bag", ["bag", "bags", "handbag", "hand bag", "purse"]),
    ("ankle boot", ["ankle boot", "ankle boots", "ankle-boots"]),
])
def test_fashion_class_names_and_variants_are_understood(fashion_tok, cls, variants):
    want = fashion_tok.encode([f"a dark slim {cls}"])
    for v in variants:
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # no unknown words, no warning
            got = fashion_tok.encode([f"a dark slim {v}"])
        assert torch.equal(got, want), v


def test_shade_words_are_understood(fashion_tok):
    for word in ("dark", "light", "medium", "pale"):
        assert fashion_tok.unknown_words(f"a {word} coat") == []
    assert fashion_tok.words("a pale coat") == ["a", "light", "coat"]


def test_synonyms_follow_the_vocabulary(fashion_tok, catalog_tok):
    # Fashion-MNIST calls it a bag, the catalogue a handbag: each maps the other's word to its own.
    assert fashion_tok.words("a handbag") == ["a", "bag"]
    assert catalog_tok.words("a bag") == ["a", "handbag"]
    assert catalog_tok.words("a cup with polka dots") == ["a", "mug", "with", "dotted"]


# -- edge cases ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "☕☕", "\n\t"])
def test_empty_descriptions_are_a_clear_error(catalog_tok, text):
    with pytest.raises(ValueError, match="no words"):
        catalog_tok.encode([text])


def test_only_unknown_words_is_a_clear_error(catalog_tok):
    with pytest.raises(ValueError, match="None of the words") as err:
        catalog_tok.encode(["blorp zibble"])
    assert "blorp" in str(err.value)
    with pytest.raises(ValueError, match="did you mean"):
        catalog_tok.encode(["strpd"])              # two edits away: not read, but suggested
    with pytest.warns(TextWarning, match="'stripd' as 'striped'"):
        assert catalog_tok.decode(catalog_tok.encode(["stripd"])[0]) == "striped"   # one edit: read


def test_some_unknown_words_warn_and_are_left_out(catalog_tok):
    with pytest.warns(TextWarning, match="left out: velvet"):
        ids = catalog_tok.encode(["a red velvet mug"])
    assert torch.equal(ids, catalog_tok.encode(["a red mug"]))


def test_unknown_words_can_be_read_as_unk(catalog_tok):
    tok = TextTokenizer(catalog_tok.vocab, unknown="unk")
    with pytest.warns(TextWarning, match="read as <unk>: velvet"):
        ids = tok.encode(["a red velvet mug"])
    assert ids[0, :4].tolist() == [tok.index["a"], tok.index["red"], 1, tok.index["mug"]]
    assert catalog_tok.encode(["a red velvet mug"], check=False)[0, 2] == 1       # training data: <unk>, silently
    with pytest.raises(ValueError, match="drop"):
        TextTokenizer(["mug"], unknown="ignore")


def test_long_descriptions_are_cut_with_a_warning(catalog_tok):
    text = "a red striped mug " + "with a red striped pattern " * 20
    with pytest.warns(TextWarning, match="only the first 16"):
        ids = catalog_tok.encode([text])
    assert ids.shape == (1, 16) and (ids[0] != 0).all()


def test_training_data_encoding_is_silent(catalog_tok):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = catalog_tok.encode(["a red velvet mug", ""], check=False)
    assert ids[1].sum() == 0


def test_decode_round_trip(catalog_tok):
    ids = catalog_tok.encode(["A Red, Striped T-Shirt"])[0]
    assert catalog_tok.decode(ids) == "a red striped tshirt"


# -- the vocabulary inside a checkpoint ----------------------------------------------------------

def test_vocabulary_round_trips_through_a_checkpoint(tmp_path, catalog_tok):
    torch.manual_seed(0)
    model = CLIP(CLIPConfig(vocab=catalog_tok.vocab, image_width=4, d_model=16, n_heads=2, embed_dim=8))
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "clip", tensors, {"arch": model.arch, "config": model.config_dict()})
    back = load_model(tmp_path / "clip")
    assert back.tokenizer.vocab == catalog_tok.vocab
    prompts = ["a purple dotted mug", "shop listing: a mug in red with a dotted finish"]
    assert torch.equal(back.tokenizer.encode(prompts), catalog_tok.encode(prompts))
    assert torch.allclose(back.encode_texts(prompts), model.eval().encode_texts(prompts))


# -- the encoder ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder(catalog_tok) -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(TextEncoderConfig(vocab=catalog_tok.vocab, max_len=16, d_model=32, n_layers=2, n_heads=4,
                                         embed_dim=24)).eval()


def test_encoder_shapes(encoder, catalog_tok):
    tokens = catalog_tok.encode(["a red striped mug", "blue tshirt, dotted", "a pair of trousers in white with a plain pattern"])
    assert encoder.word_embeddings(tokens).shape == (3, 16, 32)
    assert encoder(tokens).shape == (3, 24)
    with pytest.raises(ValueError, match="at most 16"):
        encoder(torch.ones(1, 17, dtype=torch.long))


def test_padding_does_not_change_the_sentence_embedding(encoder, catalog_tok):
    ids = catalog_tok.encode(["a red striped mug"])[0]
    n = int((ids != 0).sum())
    short = ids[:n].unsqueeze(0)                                 # no padding at all
    full = ids.unsqueeze(0)                                      # padded to max_len
    with torch.no_grad():
        assert torch.allclose(encoder(short), encoder(full), atol=1e-5)
        # ... nor does sharing a batch with longer descriptions
        batch = catalog_tok.encode(["a red striped mug", "a pair of trousers in white with a plain pattern"])
        assert torch.allclose(encoder(batch)[:1], encoder(full), atol=1e-5)
        words_short = encoder.word_embeddings(short)[0]
        words_full = encoder.word_embeddings(full)[0, :n]
        assert torch.allclose(words_short, words_full, atol=1e-5)


def test_attention_ignores_padded_keys():
    torch.manual_seed(0)
    attn = SelfAttention(16, 4).eval()
    x = torch.randn(2, 6, 16)
    keep = torch.tensor([[True] * 4 + [False] * 2] * 2)
    y = attn(x, keep)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 2, 16) * 100                       # change only the padded positions
    y2 = attn(x2, keep)
    assert torch.allclose(y[:, :4], y2[:, :4], atol=1e-5)


def test_word_order_matters(encoder, catalog_tok):
    # Unlike a bag of words, the Transformer sees order (through the position embeddings).
    a, b = catalog_tok.encode(["red mug striped", "striped mug red"])
    with torch.no_grad():
        assert not torch.allclose(encoder(a[None]), encoder(b[None]))


def test_text_condition_interface(encoder, catalog_tok):
    cond = TextCondition(encoder)
    assert cond.kind == "description" and cond.dim == 24
    tokens = cond.inputs_from_prompts(["a red striped mug", "a blue mug"])
    c = cond(tokens)
    assert c.shape == (2, 24) and torch.allclose(c.norm(dim=1), torch.ones(2), atol=1e-5)
    with pytest.raises(ValueError, match="no words"):
        cond.inputs_from_prompts([""])


def test_held_out_templates_use_known_words_only(catalog_tok, fashion_tok):
    """Paraphrase tests need templates whose *structure* is new but whose attribute words are known."""
    text = CATALOG_TEMPLATES[7].format(a="a", category="mug", colour="red", pattern="dotted")
    assert {"mug", "red", "dotted"} <= set(catalog_tok.words(text))
    text = HELD_OUT_TEMPLATES[1].format(cls="coat", shade="dark", fit="slim")
    assert {"coat", "dark", "slim"} <= set(fashion_tok.words(text))
