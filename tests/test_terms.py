"""seje_sdk.terms: the numpy key-term pipeline shared by training and the SDK."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from seje_sdk.errors import BundleError, InputError
from seje_sdk.terms import (
    TEXTRANK_DAMPING, TEXTRANK_WINDOW, TermTables, cooccurrence_matrix, dictionary_entities, ingredient_entities,
    join_phrases, key_terms, pagerank, phrase_table, rank_terms, recipe_tokens, term_features,
)
from seje_sdk.text import RecipeText, Vocab, tokenize

WORDS = ["basil", "red_wine", "red", "wine", "chicken", "olive_oil", "oil", "stir", "bake", "bowl", "oven",
         "pan", "into", "the", "a", "in", "cups", "chopped", "fresh", "leaves", "2", "1", "add", "pour", "breast"]


@pytest.fixture
def tables() -> TermTables:
    vocab = Vocab.build(WORDS)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(vocab), 8)).astype(np.float32)
    vectors[0] = 0
    idf = np.linspace(1.0, 3.0, len(vocab)).astype(np.float32)
    return TermTables(vocab, vectors, idf, frozenset({"basil", "red_wine", "chicken_breast", "olive_oil"}),
                      frozenset({"stir", "bake", "add", "pour"}), frozenset({"bowl", "oven", "pan"}))


def oracle_tagger(gold: set[str], vocab: Vocab, calls: list):
    """A deterministic tagger: a token is positive iff it is in `gold` (records each call)."""
    inverse = {i: t for t, i in vocab.index.items()}

    def run(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        calls.append(tokens.shape)
        logits = np.zeros((*tokens.shape, 2), dtype=np.float32)
        for b in range(tokens.shape[0]):
            for t in range(lengths[b]):
                logits[b, t, 1] = 1.0 if inverse.get(int(tokens[b, t])) in gold else -1.0
        return logits

    return run


RECIPE = RecipeText(
    title="Basil chicken",
    ingredients=("2 cups chopped fresh basil leaves", "1 cup red wine", "1 chicken breast"),
    instructions=("Add the basil and red wine into a bowl.", "Stir, then bake in the oven.", "Pour into the pan."),
)


def test_sdk_terms_do_not_import_torch():
    code = "import sys, seje_sdk.terms; bad = [m for m in ('torch','gensim','transformers','networkx','sklearn') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_join_phrases_longest_match():
    phrases = phrase_table({"red_wine", "red_wine_vinegar", "olive_oil", "basil"})
    assert join_phrases(tokenize("red wine vinegar and red wine, olive oil"), phrases) == \
        ["red_wine_vinegar", "and", "red_wine", "olive_oil"]


def test_tagged_spans_become_known_entities(tables):
    calls: list = []
    fn = oracle_tagger({"basil", "red", "wine", "chicken", "breast"}, tables.vocab, calls)
    # "chicken breast" is known as chicken_breast; basil alone; "red wine" joined.
    assert ingredient_entities(RECIPE.ingredients, tables, fn) == ["basil", "red_wine", "chicken_breast"]
    assert len(calls) == 1  # one tagger call for all lines


def test_unknown_tagged_span_falls_back_to_known_pieces(tables):
    fn = oracle_tagger({"fresh", "basil", "leaves"}, tables.vocab, [])
    assert ingredient_entities(["fresh basil leaves"], tables, fn) == ["basil"]


def test_dictionary_baseline(tables):
    assert dictionary_entities(RECIPE.ingredients, tables) == ["basil", "red_wine", "chicken_breast"]


def test_key_terms_are_entities_actions_utensils(tables):
    fn = oracle_tagger({"basil", "red", "wine"}, tables.vocab, [])
    # chicken_breast has no vector (not in vocab): dropped; actions/utensils from instructions in order.
    assert key_terms(RECIPE, tables, fn) == ["basil", "red_wine", "add", "stir", "bake", "pour", "bowl", "oven", "pan"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pagerank_matches_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 9
    w = np.triu(rng.integers(0, 3, size=(n, n)) * (rng.random((n, n)) < 0.4), 1).astype(float)
    w = w + w.T
    w[4, :] = w[:, 4] = 0  # an isolated (dangling) node
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from((i, j, w[i, j]) for i in range(n) for j in range(i + 1, n) if w[i, j] > 0)
    want = nx.pagerank(graph, alpha=0.85, weight="weight", tol=1e-12, max_iter=1000)
    np.testing.assert_allclose(pagerank(w), [want[i] for i in range(n)], atol=1e-8)


def test_textrank_prefers_the_connected_term(tables):
    terms = ["basil", "red_wine", "bowl", "pan"]
    # Term sequence: basil basil red_wine basil red_wine bowl pan; pairs less than 4 apart link.
    w = cooccurrence_matrix(terms, RECIPE, tables)
    np.testing.assert_array_equal(w, [[0, 5, 1, 1], [5, 0, 2, 1], [1, 2, 0, 1], [1, 1, 1, 0]])
    scores = rank_terms(terms, RECIPE, tables, "textrank")
    assert math.isclose(float(scores.sum()), 1.0, rel_tol=1e-5)
    assert np.argmax(scores) == 1  # red_wine has the largest weighted degree (8)


def test_rankers_differ(tables):
    terms = key_terms(RECIPE, tables, None)
    a = rank_terms(terms, RECIPE, tables, "tfidf")
    b = rank_terms(terms, RECIPE, tables, "textrank")
    assert np.argsort(-a).tolist() != np.argsort(-b).tolist()


def test_bert_ranker_uses_cosine_with_recipe(tables):
    # A bag-of-letters embedding: deterministic, L2-normalised, easy to reason about.
    def bert_fn(texts):
        emb = np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=np.float32)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)

    terms = ["basil", "bowl"]
    scores = rank_terms(terms, RECIPE, tables, "bert", bert_fn)
    emb = bert_fn(["basil", "bowl", ". ".join([RECIPE.title, ", ".join(RECIPE.ingredients), " ".join(RECIPE.instructions)])])
    np.testing.assert_allclose(scores, emb[:2] @ emb[2], rtol=1e-6)
    with pytest.raises(InputError, match="--bert-model"):
        rank_terms(terms, RECIPE, tables, "bert", None)
    with pytest.raises(InputError, match="unknown ranker"):
        rank_terms(terms, RECIPE, tables, "pagerank")


def test_term_feature_is_score_weighted_mean(tables):
    calls: list = []
    fn = oracle_tagger({"basil", "red", "wine"}, tables.vocab, calls)
    empty = RecipeText(title="x", ingredients=("2 cups",), instructions=("Wait.",))
    feats = term_features([RECIPE, empty, RECIPE], tables, fn, "tfidf")
    assert len(calls) == 1  # the tagger ran once for the whole batch
    terms = key_terms(RECIPE, tables, fn)
    s = rank_terms(terms, RECIPE, tables, "tfidf")
    want = (s / s.sum()) @ tables.vectors[tables.vocab.encode(terms)]
    np.testing.assert_allclose(feats[0], want, rtol=1e-5)
    np.testing.assert_array_equal(feats[1], 0)  # no key terms -> zeros
    np.testing.assert_array_equal(feats[0], feats[2])
    assert feats.dtype == np.float32 and feats.shape == (3, 8)


def test_tables_load_roundtrip_and_missing(tables, tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(tables.vocab.to_dict()))
    np.save(tmp_path / "word2vec.npy", tables.vectors)
    np.save(tmp_path / "idf.npy", tables.idf)
    (tmp_path / "entities.json").write_text(json.dumps(sorted(tables.entities)))
    (tmp_path / "lexicon.json").write_text(json.dumps({"actions": sorted(tables.actions), "utensils": sorted(tables.utensils)}))
    loaded = TermTables.load(tmp_path)
    np.testing.assert_array_equal(term_features([RECIPE], loaded, None), term_features([RECIPE], tables, None))
    (tmp_path / "idf.npy").unlink()
    with pytest.raises(BundleError, match="idf.npy"):
        TermTables.load(tmp_path)


# ---------------------------------------------------------------- against reference libraries
@pytest.fixture(scope="module")
def corpus(tiny_data):
    """The tiny synthetic training split as token documents (entity phrases joined) and TermTables over them."""
    from trainer.data.recipe1m import read_split
    from trainer.features.pipeline import as_text, idf_table, training_entities

    records = read_split(tiny_data, "train")
    entities = training_entities(records)
    phrases = phrase_table(entities)
    recipes = [as_text(r) for r in records]
    docs = [recipe_tokens(r, phrases) for r in recipes]
    vocab = Vocab.build(t for doc in docs for t in doc)
    vectors = np.random.default_rng(0).normal(size=(len(vocab), 4)).astype(np.float32)
    tables = TermTables(vocab, vectors, idf_table(docs, vocab), frozenset(entities), frozenset(), frozenset())
    return recipes, docs, tables


def test_idf_table_and_tfidf_equal_scikit_learn(corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer

    recipes, docs, tables = corpus
    # Same formula as ours: raw counts, smoothed idf ln((1+n)/(1+df)) + 1, no normalisation; our
    # documents are already token lists, so scikit-learn's analyzer is the identity.
    reference = TfidfVectorizer(analyzer=lambda doc: doc, smooth_idf=True, sublinear_tf=False, norm=None)
    matrix = reference.fit_transform(docs)
    column = reference.vocabulary_
    tokens = sorted(column)
    np.testing.assert_allclose(tables.idf[tables.vocab.encode(tokens)], reference.idf_[[column[t] for t in tokens]],
                               rtol=1e-6)
    assert (tables.idf[:2] == 0).all()  # padding / unknown rows weigh nothing
    checked = 0
    for i, recipe in enumerate(recipes[:40]):
        terms = [t for t in dict.fromkeys(docs[i]) if t in tables.entities]  # the recipe's ingredient terms
        if not terms:
            continue
        want = matrix[i, [column[t] for t in terms]].toarray().ravel()
        np.testing.assert_allclose(rank_terms(terms, recipe, tables, "tfidf"), want, rtol=1e-5)
        checked += 1
    assert checked >= 20


def test_textrank_equals_networkx_pagerank_on_the_recipe_graph(corpus):
    recipes, docs, tables = corpus
    for recipe, doc in list(zip(recipes, docs))[:20]:
        terms = list(dict.fromkeys(t for t in doc if t in tables.entities))
        if len(terms) < 3:
            continue
        # The co-occurrence graph built independently: terms in reading order, an edge (weight +1)
        # for every pair of distinct terms fewer than TEXTRANK_WINDOW positions apart.
        seq = [t for t in doc if t in terms]
        graph = nx.Graph()
        graph.add_nodes_from(terms)
        for a in range(len(seq)):
            for b in range(a + 1, min(a + TEXTRANK_WINDOW, len(seq))):
                if seq[a] != seq[b]:
                    old = graph.get_edge_data(seq[a], seq[b], {"weight": 0})["weight"]
                    graph.add_edge(seq[a], seq[b], weight=old + 1)
        want = nx.pagerank(graph, alpha=TEXTRANK_DAMPING, weight="weight", tol=1e-12, max_iter=1000)
        got = rank_terms(terms, recipe, tables, "textrank")
        np.testing.assert_allclose(got, [want[t] for t in terms], atol=1e-6)
