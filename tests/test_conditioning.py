"""The shared condition encoders: labels and bag-of-words descriptions (read by the one tokeniser)."""
import pytest
import torch

from pgan_lib.text import BagOfWordsEncoder, LabelEncoder, TextWarning, make_condition


def test_bag_of_words_reads_descriptions_with_the_one_tokeniser():
    enc = BagOfWordsEncoder(["a", "dark", "slim", "t-shirt", "coat"], dim=8, max_len=6)
    tok = enc.tokenizer
    # A vocabulary saved before words were normalised ("t-shirt") keeps its ids, read as "tshirt".
    assert tok.vocab == ("<pad>", "<unk>", "a", "dark", "slim", "tshirt", "coat")
    ids = enc.inputs_from_prompts(["A DARK t-shirt!", "Dark T Shirts"])
    assert ids.shape == (2, 6)
    assert ids[0, :3].tolist() == [tok.index["a"], tok.index["dark"], tok.index["tshirt"]]
    assert ids[1, :2].tolist() == [tok.index["dark"], tok.index["tshirt"]]
    with pytest.warns(TextWarning, match="only the first 6"):
        assert enc.inputs_from_prompts(["a " * 20]).count_nonzero() == 6          # cut at max_len


def test_unknown_words_and_padding_do_not_change_the_condition():
    enc = BagOfWordsEncoder(["dark", "coat", "light"], dim=8, max_len=8).eval()
    base = enc(enc.inputs_from_prompts(["dark coat"]))
    with pytest.warns(TextWarning, match="unknown words are left out: woolly, winter"):
        noisy = enc(enc.inputs_from_prompts(["dark woolly winter coat"]))
    assert torch.allclose(base, noisy)
    assert not torch.allclose(base, enc(enc.inputs_from_prompts(["light coat"])))
    with pytest.raises(ValueError, match="has no words the model can read"):
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
