"""The shared condition encoders: labels and bag-of-words descriptions."""
import pytest
import torch

from pgan_lib.conditioning import BagOfWordsEncoder, LabelEncoder, Tokenizer, make_condition


def test_tokenizer_vocabulary_unknowns_and_hyphens():
    tok = Tokenizer.build(["a dark slim t-shirt", "a light wide coat", "dark coat"], max_len=6)
    assert tok.vocab[:2] == ("<pad>", "<unk>") and tok.vocab[2] in ("a", "dark", "coat")
    ids = tok.encode(["A DARK t-shirt!", "slim-fit xyz coat"])
    assert ids.shape == (2, 6)
    assert ids[0, :3].tolist() == [tok.index["a"], tok.index["dark"], tok.index["t-shirt"]]
    assert ids[1, :4].tolist() == [tok.index["slim"], 1, 1, tok.index["coat"]]   # slim-fit -> slim, fit(unknown)
    assert tok.unknown_words("slim-fit xyz coat") == ["fit", "xyz"]
    assert tok.encode(["a " * 20]).count_nonzero() == 6                          # cut at max_len


def test_unknown_words_and_padding_do_not_change_the_condition():
    enc = BagOfWordsEncoder(["dark", "coat", "light"], dim=8, max_len=8).eval()
    base = enc(enc.inputs_from_prompts(["dark coat"]))
    with pytest.warns(UserWarning, match="never saw in training are ignored: woolly, winter"):
        noisy = enc(enc.inputs_from_prompts(["dark woolly winter coat"]))
    assert torch.allclose(base, noisy)
    assert not torch.allclose(base, enc(enc.inputs_from_prompts(["light coat"])))
    with pytest.raises(ValueError, match="has no words"):
        enc.inputs_from_prompts(["  !!  "])


def test_label_encoder_checks_range_and_kinds():
    enc = make_condition("label", 4, num_classes=3)
    assert isinstance(enc, LabelEncoder) and enc(enc.inputs_from_labels([0, 2])).shape == (2, 4)
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        enc.inputs_from_labels([3])
    with pytest.raises(ValueError, match="give class labels, not prompts"):
        enc.inputs_from_prompts(["a coat"])
    assert make_condition("none", 4) is None
    with pytest.raises(ValueError, match="Unknown condition kind"):
        make_condition("image", 4)
