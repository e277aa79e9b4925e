"""Recipe input types and partial recipes: every field fed every JSON type gives a vector or an
InputError naming the field and the item; a title, ingredients or instructions alone is a query."""
import itertools
import json

import numpy as np
import pytest
from test_sdk_support import retriever, sdk_bundle, titled_bundle, titled_retriever  # noqa: F401  (session fixtures)

from seje_sdk.errors import InputError
from seje_sdk.recipe import FIELDS, recipe_inputs, validate_recipe

GOOD = {"title": "Tomato pasta", "ingredients": ["pasta", "2 tomato"], "instructions": ["Boil the pasta.", "Stir in tomato."]}
SCALARS = {"int": 5, "float": 2.5, "bool": True, "null": None, "dict": {"a": 1}, "text dict": {"text": "basil"},
           "str": "basil and tomato"}
# Every JSON type, alone and as the element of a list; list elements that are dicts need "text".
VALUES = {**SCALARS, **{f"list of {k}": [v] for k, v in SCALARS.items()}, "empty list": [], "list of list": [["basil"]],
          "list of text:int": [{"text": 5}], "list of text:null": [{"text": None}]}
ACCEPTED = {"null", "str", "empty list", "list of str", "list of text dict"}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("kind", sorted(VALUES))
def test_every_field_every_json_type(titled_retriever, field, kind):
    recipe = {**GOOD, field: VALUES[kind]}
    if kind in ACCEPTED:
        vectors = titled_retriever.embed_recipes([GOOD, recipe])
        assert vectors.shape == (2, titled_retriever.bundle.embedding_dim) and np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        return
    with pytest.raises(InputError) as err:
        titled_retriever.embed_recipes([GOOD, recipe])
    message = str(err.value)
    assert message.startswith(f"recipes[1].{field}"), message
    if kind.startswith("list of"):  # the failing item is named by its index
        assert message.startswith(f"recipes[1].{field}[0]"), message
    assert "TypeError" not in message


def test_the_issue_example_names_the_field(retriever):
    with pytest.raises(InputError, match=r"recipes\[0\]\.ingredients: expected a string, a list of strings.*got int"):
        retriever.embed_recipes([{"title": "x", "ingredients": 5, "instructions": ["a"]}])
    with pytest.raises(InputError, match=r"recipes\[0\]\.instructions: .*got int"):
        retriever.embed_recipes([{"title": "x", "ingredients": ["flour"], "instructions": 7}])


def test_string_fields_split_into_lines_and_sentences():
    recipe = validate_recipe({"title": ["Tomato", "pasta"], "ingredients": "pasta\n2 tomato\n",
                              "instructions": "Boil the pasta. Stir in tomato!"})
    assert recipe.title == "Tomato pasta"
    assert recipe.ingredients == ("pasta", "2 tomato")
    assert recipe.instructions == ("Boil the pasta.", "Stir in tomato!")
    layer1 = {"title": "Tomato pasta", "ingredients": [{"text": "pasta"}, {"text": "2 tomato"}],
              "instructions": [{"text": "Boil the pasta."}, {"text": "Stir in tomato!"}]}
    assert validate_recipe(layer1) == recipe


PARTS = [dict(zip(FIELDS, keep)) for keep in itertools.product([True, False], repeat=3) if any(keep) and not all(keep)]


@pytest.mark.parametrize("keep", PARTS, ids=lambda k: "+".join(f for f, on in k.items() if on))
def test_partial_recipes_are_queries(titled_retriever, keep):
    """Title only, ingredients only, instructions only, or any two: a unit vector equal to the graph fed
    the defined empty parts (no sentences -> one padded sentence of length 0; no ingredients -> no entities)."""
    r = titled_retriever
    partial = {f: GOOD[f] for f, on in keep.items() if on}
    got = r.embed_recipes([partial])[0]
    tagger = r.sessions["tagger"]
    feeds = recipe_inputs([validate_recipe(partial)], r.tables, 5, 8,
                          lambda t, n: tagger.run({"tokens": t, "lengths": n})["logits"], title_terms=True)
    if not keep["instructions"]:
        assert feeds["sentence_tokens"].shape[1] == 1 and not feeds["sentence_lengths"].any()
    want = r.sessions["recipe"].run(feeds)["embedding"][0]
    np.testing.assert_allclose(got, want / np.linalg.norm(want), atol=1e-5)
    full = r.embed_recipes([GOOD])[0]
    assert not np.allclose(got, full, atol=1e-4), "a partial recipe must differ from the whole one"


def test_title_changes_the_vector_only_when_the_model_reads_titles(titled_retriever, retriever):
    # "golden" is a vocabulary word but none of the recipe's key terms (whose tf-idf counts read titles anyway)
    a, b = ({**GOOD, "title": t} for t in ("Golden", "Sunday dinner"))
    titled = titled_retriever.embed_recipes([a, b])
    assert not np.allclose(titled[0], titled[1], atol=1e-4)
    plain = retriever.embed_recipes([a, b])
    np.testing.assert_allclose(plain[0], plain[1], atol=1e-6)


def test_title_alone_refused_by_a_bundle_that_does_not_read_titles(retriever):
    with pytest.raises(InputError, match=r"recipes\[0\]: a title alone is not a query for this bundle"):
        retriever.embed_recipes([{"title": "Tomato pasta"}])


@pytest.mark.parametrize("empty", [{}, {"title": "  "}, {"title": None, "ingredients": [], "instructions": [""]}])
def test_empty_recipe_is_refused(titled_retriever, empty):
    with pytest.raises(InputError, match=r"recipes\[0\]: empty recipe \(no title, ingredients or instructions\)"):
        titled_retriever.embed_recipes([empty])


def test_corpus_reader_marks_a_badly_typed_recipe(tmp_path):
    from seje_sdk.corpus.reader import iter_items, open_source

    rows = [GOOD, {**GOOD, "ingredients": 5}, {"title": "Tomato pasta"}, {"id": "e", "title": ""}]
    path = tmp_path / "recipes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    items = list(iter_items(open_source(path)))
    assert [bool(it.bad) for it in items] == [False, True, False, True]
    assert items[1].bad.startswith("recipes[1].ingredients: expected a string"), items[1].bad
    assert "empty recipe" in items[3].bad
