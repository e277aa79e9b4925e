"""Phase 1 building blocks on small in-test data: word2vec, skip-instructions, tagger, lexicon, labels, config, BERT."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
import torch

from seje_sdk.errors import InputError
from seje_sdk.terms import TermTables, phrase_table, term_features
from seje_sdk.text import RecipeText, Vocab
from trainer.features import lexicon, word2vec
from trainer.features.categories import category_vectors, topk_accuracy
from trainer.features.config import PRESETS, read_config_file, resolve_config
from trainer.features.labels import title_bigram_classes
from trainer.features.skip_instructions import SentenceEncoder, pad_ids
from trainer.features.tagger import IngredientTagger, line_labels, reverse_valid, token_prf

CFG = resolve_config("tiny", {"w2v_epochs": 20})


def test_corpus_joins_entity_phrases_and_keeps_raw_sentence():
    r = RecipeText("Red wine stew", ("1 cup red wine",), ("Pour the red wine in.", "Stir."))
    corpus = word2vec.build_corpus([r], phrase_table({"red_wine"}))
    assert corpus == [["red_wine", "stew"], ["1", "cup", "red_wine"], ["pour", "the", "red_wine", "in"],
                      ["pour", "the", "red", "wine", "in"], ["stir"]]


def _toy_corpus():
    rng = np.random.default_rng(0)
    fruit, tools = ["apple", "pear", "plum"], ["pan", "pot", "wok"]
    return [[str(w) for w in rng.choice(fruit, 3)] + ["sweet"] for _ in range(150)] + \
        [[str(w) for w in rng.choice(tools, 3)] + ["hot"] for _ in range(150)]


def test_word2vec_is_deterministic_and_semantic(tmp_path):
    a = word2vec.train_word2vec(_toy_corpus(), CFG)
    b = word2vec.train_word2vec(_toy_corpus(), CFG)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    vocab, matrix = word2vec.word2vec_tables(a.wv)
    assert vocab.tokens[:3] == ["<pad>", "<unk>", "<eos>"] and not matrix[0].any()
    np.testing.assert_allclose(matrix[1], matrix[3:].mean(0), rtol=1e-5)
    assert set(word2vec.neighbours(vocab, matrix, "apple", k=2)) <= {"pear", "plum", "sweet"}


def test_word2vec_c_binary_file_loads(tmp_path):
    model = word2vec.train_word2vec(_toy_corpus(), CFG)
    path = tmp_path / "vocab.bin"
    model.wv.save_word2vec_format(str(path), binary=True)  # the format of Recipe1M's vocab.bin
    kv = word2vec.load_word2vec_file(path)
    np.testing.assert_allclose(kv["apple"], model.wv["apple"], rtol=1e-6)
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01 not a model")
    with pytest.raises(InputError, match="--w2v .*junk.bin"):
        word2vec.load_word2vec_file(tmp_path / "junk.bin")


def test_sentence_encoder_matches_packed_lstm_and_exports(tmp_path):
    torch.manual_seed(0)
    enc = SentenceEncoder(vocab_size=30, word_dim=8, hidden=16).eval()
    ids, lengths = pad_ids([[5, 6, 7, 2], [9, 2], [], [3, 4, 5, 6, 7, 8, 2]])
    with torch.no_grad():
        got = enc(ids, lengths)
        for row in (0, 1, 3):  # each row alone, unpadded: what a packed sequence would give
            _, (h, _) = enc.lstm(enc.embed(ids[row : row + 1, : lengths[row]]))
            torch.testing.assert_close(got[row], h[0, 0], atol=1e-6, rtol=1e-5)
    assert not got[2].any()  # an empty sentence is zeros
    path = tmp_path / "enc.onnx"
    torch.onnx.export(enc, (ids, lengths), str(path), input_names=["tokens", "lengths"], output_names=["vectors"],
                      dynamic_axes={"tokens": {0: "n", 1: "l"}, "lengths": {0: "n"}}, dynamo=False)
    ids2, len2 = pad_ids([[4, 5, 2], [7, 8, 9, 10, 11, 2]])
    out = ort.InferenceSession(str(path)).run(None, {"tokens": ids2.numpy(), "lengths": len2.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, enc(ids2, len2).numpy(), atol=1e-5)


def test_reverse_valid_reverses_only_the_real_tokens():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert reverse_valid(x, torch.tensor([3, 2])).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_tagger_ignores_padding_and_exports(tmp_path):
    torch.manual_seed(0)
    tagger = IngredientTagger(vocab_size=30, word_dim=8, hidden=6).eval()
    ids, lengths = pad_ids([[5, 6, 7], [9, 10, 11, 12, 13]])
    with torch.no_grad():
        both = tagger(ids, lengths)
        alone = tagger(ids[:1, :3], lengths[:1])
    torch.testing.assert_close(both[0, :3], alone[0], atol=1e-6, rtol=1e-5)  # padding never leaks backwards
    path = tmp_path / "tagger.onnx"
    torch.onnx.export(tagger, (ids, lengths), str(path), input_names=["tokens", "lengths"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch", 1: "length"}, "lengths": {0: "batch"}}, dynamo=False)
    ids3, len3 = pad_ids([[1, 2], [3, 4, 5, 6, 7, 8, 9], [4]])
    out = ort.InferenceSession(str(path)).run(None, {"tokens": ids3.numpy(), "lengths": len3.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, tagger(ids3, len3).numpy(), atol=1e-5)


def test_line_labels_mark_the_det_name():
    assert line_labels("2 cups chopped fresh basil leaves", "basil") == (
        ["2", "cups", "chopped", "fresh", "basil", "leaves"], [0, 0, 0, 0, 1, 0])
    assert line_labels("1 cup red wine", "red wine")[1] == [0, 0, 1, 1]
    assert line_labels("2 cups flour", "all-purpose flour")[1] == [0, 0, 1]  # shortened name: head token
    assert line_labels("a pinch of salt", "pepper") is None
    assert token_prf([1, 1, 0, 0], [1, 0, 1, 0]) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_lexicon_learns_actions_and_utensils():
    steps = [["Preheat the oven to 350 degrees.", "In a large bowl, whisk the eggs and sugar.",
              "Pour the batter into a greased pan, then bake for 20 minutes.", "Fold the sauce into the mixture."],
             ["Heat the butter in a skillet.", "Add the eggs and stir gently.", "Bring to a boil.", "Transfer on a plate."]] * 3
    lex = lexicon.learn_lexicon(steps, frozenset({"eggs", "sugar", "butter", "batter"}), {}, min_count=3, min_ratio=0.3)
    assert {"preheat", "whisk", "pour", "bake", "heat", "add", "stir", "transfer"} <= set(lex["actions"])
    assert {"bowl", "pan", "skillet", "plate"} <= set(lex["utensils"])
    assert not {"eggs", "butter", "the", "minutes", "mixture", "boil"} & set(lex["actions"] + lex["utensils"])


def test_title_bigram_classes_follow_im2recipe():
    R = lambda i, title, part="train": SimpleNamespace(id=str(i), title=title, partition=part)  # noqa: E731
    recipes = [R(0, "Easy Chocolate Chip Cookies"), R(1, "Chocolate chip cookies"), R(2, "Best chocolate chip bars"),
               R(3, "Caesar Salad"), R(4, "Classic caesar salad"), R(5, "Toast"), R(6, "Caesar salad wrap", "val")]
    class_of, names = title_bigram_classes(recipes, max_classes=3, min_count=2)
    assert names[0] == "background" and {"chocolate chip", "chip cookies", "caesar salad"} == set(list(names.values())[1:])
    assert class_of["5"] == 0
    assert names[class_of["4"]] == names[class_of["6"]] == "caesar salad"
    assert names[class_of["2"]] == "chocolate chip"


def test_category_vectors_joined_mean_or_zero():
    vocab = Vocab.build(["apple_pie", "caesar", "salad"])
    vecs = np.arange(len(vocab) * 2, dtype=np.float32).reshape(-1, 2)
    out = category_vectors({0: "background", 1: "apple pie", 2: "caesar salad", 3: "sushi"}, vocab, vecs)
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_array_equal(out[1], vecs[vocab.id("apple_pie")])
    np.testing.assert_array_equal(out[2], vecs[[vocab.id("caesar"), vocab.id("salad")]].mean(0))
    np.testing.assert_array_equal(out[3], 0)


def test_topk_accuracy_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.2], [0.3, 0.2, 0.5]])
    assert topk_accuracy(logits, torch.tensor([1, 2, 1]), ks=(1, 2)) == {"top1": round(1 / 3, 4), "top2": round(2 / 3, 4)}


def test_config_presets_and_overrides(tmp_path):
    assert PRESETS["paper"].backbone == "wide_resnet50_2" and PRESETS["paper"].sentence_dim == 1024
    assert PRESETS["cpu"].word_dim == PRESETS["paper"].word_dim == 300
    assert resolve_config("tiny", {"word_dim": 16}).word_dim == 16
    with pytest.raises(InputError, match="unknown feature config keys \\['wordd_dim'\\]"):
        resolve_config("cpu", {"wordd_dim": 3})
    with pytest.raises(InputError, match="word_dim: expected an integer"):
        resolve_config("cpu", {"word_dim": "big"})
    with pytest.raises(InputError, match="ranker"):
        resolve_config("cpu", {"ranker": "magic"})
    path = tmp_path / "c.yaml"
    path.write_text("ranker: textrank\nsentence_dim: 32\n")
    assert resolve_config("tiny", read_config_file(path)).sentence_dim == 32


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT built from a config (random weights) with a tiny word-piece vocab: no download."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "basil", "red", "wine", "bowl", "stir", "bake", "chicken", "oven", "."]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    BertModel(cfg).save_pretrained(str(folder))
    return folder


def test_bert_ranker_with_a_tiny_local_bert(tiny_bert):
    from trainer.features.rankers import bert_fn_from

    fn = bert_fn_from(str(tiny_bert))
    emb = fn(["basil", "red wine", "stir the basil in a bowl ."])
    assert emb.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    vocab = Vocab.build(["basil", "red_wine", "bowl", "stir", "bake"])
    tables = TermTables(vocab, np.eye(len(vocab), 4, dtype=np.float32), np.ones(len(vocab), np.float32),
                        frozenset({"basil", "red_wine"}), frozenset({"stir", "bake"}), frozenset({"bowl"}))
    recipe = RecipeText("basil", ("basil", "red wine"), ("Stir in a bowl.", "Bake."))
    bert = term_features([recipe], tables, None, "bert", fn)
    tfidf = term_features([recipe], tables, None, "tfidf")
    assert bert.shape == (1, 4) and not np.allclose(bert, tfidf)


def test_missing_bert_model_names_the_option(tmp_path):
    from trainer.features.rankers import bert_fn_from

    with pytest.raises(InputError, match="--bert-model .*not a transformers model folder"):
        bert_fn_from(str(tmp_path / "nowhere"))


def test_undecodable_images_are_counted_not_fatal(tmp_path):
    from PIL import Image

    from trainer.features.categories import load_images

    good, bad, empty = tmp_path / "good.jpg", tmp_path / "bad.jpg", tmp_path / "empty.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good)
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    empty.write_bytes(b"")
    images = load_images([("g", good, 3), ("b", bad, 1), ("e", empty, 2)], 32, "test")
    assert images.ids == ["g"] and images.labels.tolist() == [3] and images.pixels.shape == (1, 3, 32, 32)
    assert len(images.skipped) == 2 and images.skipped[0].startswith("b: image b") and "zero-byte" in images.skipped[1]


def test_empty_instructions_give_no_sentence_rows():
    from trainer.features.skip_instructions import encode_recipes

    torch.manual_seed(0)
    enc = SentenceEncoder(vocab_size=10, word_dim=4, hidden=5)
    vocab = Vocab.build(["stir", "bake"])
    vecs, offsets = encode_recipes(enc, [["Stir.", "Bake."], [], ["Stir."]], vocab, CFG)
    assert vecs.shape == (3, 5) and offsets.tolist() == [0, 2, 2, 3]


def test_line_labels_tolerate_plurals_and_typos_and_ignore_alternatives():
    assert line_labels("2 cups tomatos or cherry tomatoes", "tomatoes")[1] == [0, 0, 1, 0, 0, 0]  # first mention only
    assert line_labels("3 chicken breasts", "chicken breast")[1] == [0, 1, 1]
    assert line_labels("1 cup parmesean cheese", "parmesan cheese")[1] == [0, 0, 1, 1]
    assert line_labels("a pinch of salt", "pepper", keep_unmatched=True) == (["a", "pinch", "of", "salt"], [0, 0, 0, 0])


def test_every_val_line_counts_in_the_tagger_evaluation():
    from types import SimpleNamespace

    from trainer.features.tagger import labelled_lines

    r = SimpleNamespace(ingredients=["1 cup milk", "cooking spray", "2 cups sugar", "1 egg"],
                        det_ingredients=["milk", "cooking spray", "flour", "eggs"], det_valid=[True, False, True, True])
    assert len(labelled_lines([r])) == 2  # training: lines whose valid name is found
    every = labelled_lines([r], every_line=True)
    assert [lab for _, lab in every] == [[0, 0, 1], [0, 0], [0, 0, 0], [0, 1]]
