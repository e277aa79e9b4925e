"""FastText subwords: the SDK's numpy n-gram vectors equal gensim's, and unseen words reach the term feature."""
from __future__ import annotations

import numpy as np
import pytest

from seje_sdk.subwords import SubwordTable, fasttext_hash, ngram_bytes
from seje_sdk.terms import TermTables, key_terms, term_features
from seje_sdk.text import RecipeText

gensim_fasttext = pytest.importorskip("gensim.models.fasttext")

CORPUS = [
    "slice the ripe mango and serve cold".split(),
    "roast the brinjal with oil and salt".split(),
    "mango lassi with yogurt and sugar".split(),
    "fry the brinjal slices in oil".split(),
    "crème fraîche on the ripe mango".split(),
] * 4
UNSEEN = ["gulabkhas", "kesar", "brinjals", "4", "6", "crèmes", "日本酒", "a"]


@pytest.fixture(scope="module")
def model():
    from trainer.features.config import FeatureConfig
    from trainer.features.word2vec import train_word2vec

    return train_word2vec(CORPUS, FeatureConfig(word_dim=16, w2v_min_count=2, w2v_window=3, word_vectors="fasttext",
                                                fasttext_buckets=2003))


@pytest.fixture(scope="module")
def table(model, tmp_path_factory):
    from trainer.features.word2vec import save_subwords

    folder = tmp_path_factory.mktemp("subwords")
    assert save_subwords(model.wv, folder) == {"min_n": 3, "max_n": 6, "buckets": 2003, "hash": "fasttext-fnv1a-signed-bytes"}
    return SubwordTable.load(folder)


@pytest.mark.parametrize("word", UNSEEN + ["mango", "crème"])
def test_ngrams_and_hashes_match_gensim(word):
    assert ngram_bytes(word, 3, 6) == gensim_fasttext.compute_ngrams_bytes(word, 3, 6)
    assert ngram_bytes(word, 1, 4) == gensim_fasttext.compute_ngrams_bytes(word, 1, 4)
    assert [fasttext_hash(g) for g in ngram_bytes(word, 3, 6)] == [gensim_fasttext.ft_hash_bytes(g) for g in ngram_bytes(word, 3, 6)]


def test_sdk_vector_equals_gensim_for_unseen_words(model, table):
    for word in UNSEEN:
        assert word not in model.wv.key_to_index
        np.testing.assert_allclose(table.vector(word), model.wv[word], rtol=1e-5, atol=1e-7)
    assert np.abs(table.vector("gulabkhas") - table.vector("kesar")).max() > 1e-3  # different words, different vectors


def test_vocabulary_rows_equal_gensim(model):
    from trainer.features.word2vec import word2vec_tables

    vocab, matrix = word2vec_tables(model.wv)
    for word in ("mango", "brinjal", "crème"):
        np.testing.assert_array_equal(matrix[vocab.id(word)], model.wv[word])


def test_unseen_ingredient_gets_its_own_term_feature(model, table):
    """With subwords, "kesar" and "gulabkhas" mangoes differ in the term feature; without, they collapse."""
    from trainer.features.word2vec import word2vec_tables

    vocab, matrix = word2vec_tables(model.wv)
    idf = np.ones(len(vocab), np.float32)
    every_token = lambda ids, lengths: np.stack([np.zeros_like(ids), np.ones_like(ids)], -1).astype(np.float32)  # noqa: E731
    recipes = [RecipeText(title="Mango", ingredients=("1 " + v,), instructions=("Slice it.",)) for v in ("kesar", "gulabkhas")]
    plain = TermTables(vocab, matrix, idf, frozenset({"mango"}), frozenset(), frozenset())
    with_subwords = TermTables(vocab, matrix, idf, frozenset({"mango"}), frozenset(), frozenset(), subwords=table)
    assert key_terms(recipes[0], plain, every_token) == []
    assert key_terms(recipes[0], with_subwords, every_token) == ["kesar"]
    a, b = term_features(recipes, with_subwords, every_token)
    np.testing.assert_allclose(a, table.vector("kesar"), rtol=1e-5)
    assert np.abs(a - b).max() > 1e-3
    assert not term_features(recipes, plain, every_token).any()


def test_fasttext_features_carry_the_table_into_the_bundle(tiny_data, tmp_path):
    """features with word_vectors "fasttext" -> subwords.npy/json -> bundle tables -> the SDK's vectors equal gensim's."""
    from gensim.models import FastText

    from export.tables import copy_tables
    from trainer.features.pipeline import build_features

    features = build_features(tiny_data, tmp_path / "features", preset="tiny",
                              overrides={"word_vectors": "fasttext", "fasttext_buckets": 5000, "compare_bert": False})
    hashes = copy_tables(features, tmp_path / "bundle")
    assert {"tables/subwords.npy", "tables/subwords.json"} <= set(hashes)
    tables = TermTables.load(tmp_path / "bundle" / "tables")
    assert tables.subwords is not None and tables.subwords.buckets == 5000
    kv = FastText.load(str(features / "word2vec.model")).wv  # our own file, written a moment ago
    for word in ("gulabkhas", "brinjal"):
        assert word not in tables.vocab
        np.testing.assert_allclose(tables.term_vectors([word])[0], kv[word], rtol=1e-5, atol=1e-7)
    known = tables.vocab.tokens[5]
    np.testing.assert_array_equal(tables.term_vectors([known])[0], kv[known])
