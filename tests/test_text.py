"""The shared tokeniser: what training and the SDK both rely on."""
import numpy as np
import pytest

from seje_sdk.errors import InputError
from seje_sdk.recipe import validate_recipe
from seje_sdk.text import (
    EOS_ID,
    PAD_ID,
    UNK_ID,
    RecipeText,
    Vocab,
    clean_ingredient_name,
    encode_sentences,
    split_sentences,
    tokenize,
)


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("2 Cups chopped, FRESH basil!") == ["2", "cups", "chopped", "fresh", "basil"]
    assert tokenize("½ tsp salt") == ["1/2", "tsp", "salt"]
    assert tokenize("Chef's knife") == ["chef's", "knife"]


def test_clean_ingredient_name_joins_words_and_drops_numbers():
    assert clean_ingredient_name("Red Wine") == "red_wine"
    assert clean_ingredient_name("2 eggs") == "eggs"


def test_split_sentences_keeps_items_and_splits_plain_text():
    assert split_sentences(["Whisk eggs.", "  ", "Bake."]) == ["Whisk eggs.", "Bake."]
    assert split_sentences("Whisk eggs. Bake for 20 min!\nServe") == ["Whisk eggs.", "Bake for 20 min!", "Serve"]


def test_vocab_roundtrip_and_specials(tmp_path):
    vocab = Vocab.build(["salt", "pepper", "salt"])
    assert vocab.tokens[:3] == ["<pad>", "<unk>", "<eos>"]
    assert vocab.encode(["salt", "nope"]) == [3, UNK_ID]
    path = tmp_path / "vocab.json"
    import json

    path.write_text(json.dumps(vocab.to_dict()))
    assert Vocab.load(path).tokens == vocab.tokens
    with pytest.raises(ValueError):
        Vocab(["salt"])


def test_encode_sentences_pads_and_truncates():
    vocab = Vocab.build(["whisk", "eggs", "bake"])
    ids, lengths = encode_sentences([["whisk eggs", "bake"], ["bake bake bake bake"]], vocab, max_sentences=20, max_tokens=3)
    assert ids.shape == (2, 2, 3) and ids.dtype == np.int64
    assert ids[0, 0].tolist() == [3, 4, EOS_ID]
    assert lengths.tolist() == [[3, 2], [3, 0]]
    assert ids[1, 1].tolist() == [PAD_ID] * 3


def test_recipe_text_accepts_layer1_dicts_and_plain_lists():
    layer1 = {"title": "Soup", "ingredients": [{"text": "1 onion"}], "instructions": [{"text": "Chop."}]}
    plain = {"title": "Soup", "ingredients": ["1 onion"], "instructions": ["Chop."]}
    assert validate_recipe(layer1) == validate_recipe(plain)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"title": " ", "ingredients": [], "instructions": []}, "empty recipe"),
        ({"title": b"\xff\xfe", "instructions": ["a"]}, "UTF-8"),
        ("just a string", "expected a dict"),
    ],
)
def test_recipe_text_rejects_bad_input_with_position(bad, message):
    with pytest.raises(InputError, match=message) as err:
        validate_recipe(bad, where="recipes[3]")
    assert "recipes[3]" in str(err.value)
