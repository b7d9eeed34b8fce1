"""Sub-words: character n-grams, the unknown-word path of the tokeniser, and the encoder's n-gram vectors."""
from __future__ import annotations

import warnings

import pytest
import torch

from pgan_lib.data.attributes import FIT_WORDS, SHADE_WORDS, TEMPLATES, describe_fashion
from pgan_lib.data.fashion_mnist import CLASS_NAMES
from pgan_lib.data.lexicon import (
    FASHION_FIT_LEXICON,
    FASHION_PRODUCT_WORDS,
    FASHION_SHADE_LEXICON,
    HELD_OUT_WORDS,
    check_lexicon,
    training_words,
)
from pgan_lib.eval.shopper import one_edit_typos, shopper_prompts
from pgan_lib.pretrained import available as pretrained_available
from pgan_lib.text import TextEncoder, TextEncoderConfig, TextTokenizer, TextWarning, normalise, singular
from pgan_lib.text.subword import FUNCTION_WORDS, bucket_table, char_ngrams, fnv1a, within_one_edit

TEXTS = [describe_fashion(c, s, f, t) for group in FASHION_PRODUCT_WORDS for c in group
         for s in sum(FASHION_SHADE_LEXICON, ()) for f in ("slim", "baggy") for t in range(len(TEMPLATES))]


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return TextTokenizer.build(TEXTS)


def test_char_ngrams_mark_word_boundaries():
    assert char_ngrams("tee") == ["<te", "tee", "ee>", "<tee", "tee>", "<tee>"]
    grams = char_ngrams("sneaker")
    assert "<sn" in grams and "er>" in grams and "<snea" in grams and all(3 <= len(g) <= 5 for g in grams)
    assert char_ngrams("a", 3, 5) == ["<a>"]


def test_fnv1a_is_the_reference_hash():
    assert fnv1a("") == 0x811C9DC5 and fnv1a("a") == 0xE40C292C and fnv1a("foobar") == 0xBF9CF968


def test_within_one_edit():
    for a, b in (("sneaker", "sneeker"), ("coat", "coaat"), ("trouser", "trowser"), ("shirt", "shrit"),
                 ("bag", "ag"), ("dress", "dress")):
        assert within_one_edit(a, b) and within_one_edit(b, a), (a, b)
    for a, b in (("coat", "cotta"), ("shirt", "short"[::-1]), ("bag", "bgaa"), ("tee", "tree s")):
        assert not within_one_edit(a, b), (a, b)
    typos = one_edit_typos("bag")
    assert "ag" in typos and "bga" in typos and "bagg" in typos and "bog" in typos and "bag" not in typos
    assert all(within_one_edit("bag", t) for t in typos)


def test_misspelt_words_are_read_as_the_nearest_known_word_with_a_warning(tok):
    for text, want in (("black sneekers", "black sneaker"), ("coaat", "coat"), ("trowsers", "trouser"),
                       ("a charcoal jumpr", "a charcoal jumper")):
        with pytest.warns(TextWarning, match="read by sub-words") as rec:
            got = tok.decode(tok.encode([text])[0])
        assert got == want, (text, got)
        assert any("as '" in str(w.message) for w in rec)
    with pytest.warns(TextWarning, match="'sneekers' as 'sneaker'"):
        tok.encode(["sneekers"])


def test_words_that_are_not_typos_are_not_guessed(tok):
    """Function words and short real words next to known words are left out, never read as products."""
    with pytest.warns(TextWarning, match="left out: the, big"):
        assert tok.decode(tok.encode(["the big coat"])[0]) == "coat"
    with pytest.raises(ValueError, match="None of the words"):
        tok.encode(["qwertyuiop zzzz"])


def test_a_description_without_a_product_reads_a_short_typo_as_the_product(tok):
    """'tep' or 'bsg' are too short for the one-edit rule, but a description names a product: when no
    product word is read, an unknown word one edit from one is read as it, with the warning."""
    for text, choices in (("a charcoal slim tep", ("a charcoal slim tee", "a charcoal slim top")),
                          ("a dark slim bsg", ("a dark slim bag",)), ("charcoal coot", ("charcoal coat", "charcoal boot"))):
        with pytest.warns(TextWarning, match="read by sub-words"):
            assert tok.decode(tok.encode([text])[0]) in choices, text
    with pytest.warns(TextWarning, match="left out: big"):      # a product is named: "big" stays a word
        assert tok.decode(tok.encode(["a big bag"])[0]) == "a bag"
    with pytest.warns(TextWarning, match="left out: sli"):         # only product words are guessed this way
        assert tok.decode(tok.encode(["charcoal sli tep"])[0]) in ("charcoal tee", "charcoal top")
    assert tok.product_words and tok.product_words <= set(tok.vocab)
    assert TextTokenizer(["red", "mug"]).product_words == {"mug"}


def test_no_one_edit_typo_of_a_product_word_is_refused(tok):
    """Every one-edit misspelling of every product word, alone, is read (possibly as a guess), never refused."""
    avoid = FUNCTION_WORDS | training_words("fashion-mnist")
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        for group in FASHION_PRODUCT_WORDS:
            for phrase in group:
                *head, last = phrase.split()
                for typo in one_edit_typos(last):
                    if typo in avoid or singular(typo) in avoid or len(typo) < 2:
                        continue
                    tok.encode([" ".join(head + [typo])])      # raises ValueError when refused
                    checked += 1
    assert checked > 5000


def test_unknown_words_away_from_a_one_edit_typo_are_read_by_their_ngrams(tok):
    reader = tok.reader
    assert reader.nearest("blackish")[0] == "black" and reader.nearest("blackish")[2] == "sub-words"
    assert reader.nearest("creamy")[0] == "cream"
    assert reader.nearest("zzzzzz") is None


def test_encoder_adds_ngram_vectors_to_known_words(tok):
    torch.manual_seed(0)
    enc = TextEncoder(TextEncoderConfig(vocab=tok.vocab, subword_buckets=256))
    tokens = tok.encode(["a charcoal skinny jumper"], check=False)
    i = tok.index["jumper"]
    row = enc.vocab_ngrams[i]
    grams = row[row != 256]
    assert torch.equal(grams, torch.tensor([fnv1a(g) % 256 for g in char_ngrams("jumper")]))
    want = enc.token_embed.weight[i] + enc.ngram_embed.weight[grams].mean(0)
    got = enc.token_vectors(tokens)[0, tokens[0].tolist().index(i)]
    assert torch.allclose(got, want)
    assert torch.equal(enc.vocab_ngrams[0], torch.full_like(row, 256))               # <pad>: no n-grams
    assert torch.allclose(enc.subword_vectors(["jumper"])[0], enc.ngram_embed.weight[grams].mean(0))
    assert tok.reader is not enc.tokenizer.reader and enc.tokenizer.reader.vectors == enc.subword_vectors
    # the n-gram table is derived from the vocabulary: not part of the saved state
    assert "vocab_ngrams" not in enc.state_dict() and "ngram_embed.weight" in enc.state_dict()


def test_an_encoder_without_subwords_keeps_the_older_state_layout(tok):
    enc = TextEncoder(TextEncoderConfig(vocab=tok.vocab))
    assert not any("ngram" in k for k in enc.state_dict())
    assert bucket_table(["<pad>", "<unk>", "tee"], 64).shape == (3, 6)


def test_held_out_words_stay_out_of_training():
    check_lexicon()
    train = training_words("fashion-mnist") | training_words("catalog")
    prompts, requested = shopper_prompts("fashion-mnist", "held-out", per=1)
    assert len(prompts) == 90 and requested["label"].tolist() == sorted(requested["label"].tolist())
    for p in prompts:
        assert any(w not in train for w in normalise(p)), p
    typos, _ = shopper_prompts("fashion-mnist", "typo", per=1)
    trained, _ = shopper_prompts("fashion-mnist", "train", per=1)
    assert sum(a != b for a, b in zip(typos, trained)) >= 80


def test_the_lexicon_check_fails_on_a_leaked_word(monkeypatch):
    leaked = {**HELD_OUT_WORDS, "fashion-mnist": {**HELD_OUT_WORDS["fashion-mnist"],
                                                   "label": {2: ("jumper",)}}}
    monkeypatch.setattr("pgan_lib.data.lexicon.HELD_OUT_WORDS", leaked)
    with pytest.raises(AssertionError, match="jumper"):
        check_lexicon()


def test_kit_words_still_name_every_value():
    assert [t[0] for t in FASHION_SHADE_LEXICON] == list(SHADE_WORDS)
    assert [t[0] for t in FASHION_FIT_LEXICON] == list(FIT_WORDS)
    assert [t[0] for t in FASHION_PRODUCT_WORDS] == list(CLASS_NAMES)


def test_refusals_lists_only_unreadable_prompts_and_a_clip_with_subwords_round_trips(tmp_path):
    """``eval.shopper.refusals`` on a tiny text-to-image GAN whose CLIP has sub-word vectors; the n-gram
    vectors are saved with the checkpoint and the reloaded model reads typos the same way."""
    from pgan_lib.eval.shopper import refusals
    from pgan_lib.models.base import load_model
    from pgan_lib.models.clip import CLIP, CLIPConfig
    from pgan_lib.models.t2i import TextToImageGAN

    torch.manual_seed(0)
    vocab = TextTokenizer.build(["a red striped mug", "a blue dotted handbag"]).vocab
    clip = CLIP(CLIPConfig(image_width=4, embed_dim=8, vocab=vocab, d_model=8, n_heads=2, n_layers=1,
                           subword_buckets=64))
    gan = TextToImageGAN.from_clip(clip, latent_dim=8, cond_dim=8, g_width=8, d_width=8)
    assert [p for p, _ in refusals(gan, ["blorp zibble", "a red mug", "a bleu mugg", "handbga"])] == ["blorp zibble"]
    from pgan_lib.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "t2i", {f"model/{k}": v for k, v in gan.state_dict().items()},
                           {"arch": gan.arch, "config": gan.config_dict(), "step": 0})
    again = load_model(path)
    assert torch.equal(again.clip.text_encoder.ngram_embed.weight, gan.clip.text_encoder.ngram_embed.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        assert torch.equal(again.sample(2, prompts="a bleu mugg", seed=1), gan.sample(2, prompts="a blue mug", seed=1))


def test_a_clip_that_predates_the_lexicon_is_not_reused_by_the_t2i_recipes():
    """The t2i recipes pass over a (shipped) CLIP whose vocabulary lacks words of the training descriptions,
    or that has no learned sub-word vectors."""
    from types import SimpleNamespace

    from pgan_lib.models.clip import CLIP, CLIPConfig
    from pgan_lib.recipes.t2i import _reads

    train = SimpleNamespace(descriptions=["a charcoal skinny jumper", "a dark slim pullover"])
    old = CLIP(CLIPConfig(image_width=4, embed_dim=8, d_model=8, n_heads=2, n_layers=1, subword_buckets=16,
                          vocab=TextTokenizer.build(["a dark slim pullover"]).vocab))
    new = CLIP(CLIPConfig(image_width=4, embed_dim=8, d_model=8, n_heads=2, n_layers=1, subword_buckets=16,
                          vocab=TextTokenizer.build(train.descriptions).vocab))
    no_subwords = CLIP(CLIPConfig(image_width=4, embed_dim=8, d_model=8, n_heads=2, n_layers=1,
                                  vocab=TextTokenizer.build(train.descriptions).vocab))
    assert not _reads(old, train) and _reads(new, train) and not _reads(no_subwords, train)
    assert _reads(old, SimpleNamespace(descriptions=["a dark jumper"]))     # "jumper" via the synonym table


def test_words_lists_what_ids_encodes_including_product_guess(tok):
    """words() applies the same product-word guess as ids(): "tep" is read as "tee" by both."""
    import warnings
    text = "a dark slim tep"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = tok.ids(text)
    words = tok.words(text)
    assert [tok.vocab[i] for i in ids] == [w for w in words if w in tok.index]
    assert "tep" not in words and any(w in tok.product_words for w in words)
    assert tok.unknown_words(text) == []


def test_words_of_the_kit_lexicons_are_read_by_one_edit_never_by_subwords():
    """A word of the kit's lexicons ("shirt", "blackish" made one here) is a word in its own right: the reader
    still reads it within one edit ("shirt" -> "tshirt"), never by n-gram similarity."""
    from pgan_lib.text.subword import SubwordReader
    from pgan_lib.text.tokenizer import lexicon_words

    vocab = TextTokenizer.build(["a black tshirt", "a grey coat"]).vocab
    assert SubwordReader(vocab).nearest("blackish")[:3:2] == ("black", "sub-words")
    assert SubwordReader(vocab, real_words=frozenset({"blackish"})).nearest("blackish") is None
    assert SubwordReader(vocab, real_words=frozenset({"shirt"})).nearest("shirt")[::2] == ("tshirt", "one edit")
    assert {"grey", "pair", "fitted", "tshirt", "jean", "handbag"} <= lexicon_words()
    held = {w for attrs in HELD_OUT_WORDS.values() for table in attrs.values() for ws in table.values() for w in ws}
    assert not {w for w in held if w.endswith("ish")} & lexicon_words()     # derived words stay readable


@pytest.mark.skipif(not (pretrained_available("catalog-t2i") and pretrained_available("fashion-t2i")),
                    reason="catalog-t2i and fashion-t2i are not shipped in checkpoints/")
def test_shipped_text_models_leave_out_words_of_the_other_lexicon_rather_than_misread_them():
    """The learned readers once read "grey" as "green", "fitted" as "dotted" (catalogue) and "pair" as "slim"
    (Fashion-MNIST): each is a kit word the model does not know, so it is left out, with the warning."""
    from pgan_lib import pretrained

    catalog, fashion = pretrained.load("catalog-t2i").tokenizer, pretrained.load("fashion-t2i").tokenizer
    for tok_, text, want in ((catalog, "a grey mug", ["a", "mug"]), (catalog, "a fitted dress", ["a", "dress"]),
                             (fashion, "a pair of dark jeans", ["a", "of", "dark", "jean"])):
        with pytest.warns(TextWarning, match="left out"):
            got = [tok_.vocab[i] for i in tok_.ids(text)]
        assert got == want, (text, got)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TextWarning)
        assert catalog.words("a greenish mug") == ["a", "green", "mug"]      # a derived word is still read


def test_held_out_prompts_split_by_their_held_out_word():
    """``by_held_out_word`` counts each word's prompts by whole words ("tee" is not in "teeshirt")."""
    from pgan_lib.eval.shopper import by_held_out_word, how_read

    result = {"prompts": ["a reddish teeshirt, solid", "a bluish tee, solid", "bluish cup, stripy"],
              "right": {"colour": torch.tensor([True, False, False]), "pattern": torch.tensor([True, True, False])}}
    rows = {r["word"]: r for r in by_held_out_word("catalog", result)}
    assert (rows["reddish"]["n"], rows["bluish"]["n"], rows["tee"]["n"], rows["teeshirt"]["n"]) == (1, 2, 1, 1)
    assert rows["bluish"]["accuracy"] == {"colour": 0.0, "pattern": 0.5}
    assert rows["solid"]["accuracy"] == {"colour": 0.5, "pattern": 1.0}
    assert rows["greenish"]["n"] == 0 and rows["greenish"]["accuracy"] == {}
    tok_ = TextTokenizer.build(["a red striped mug"])
    assert how_read("cup", tok_) == ("mug", "synonym table") and how_read("red", tok_) == ("red", "known")
    assert how_read("zzzz", tok_) == ("-", "left out")
