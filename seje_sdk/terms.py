"""SEJE key terms and the weighted term feature, in numpy: the one copy shared by training and the SDK.

Key terms of a recipe = ingredient entities (a tagger over the raw ingredient lines, checked
against the training entity set) + cooking actions + utensils (a lexicon over the instructions
with the entities removed). A ranker scores each term (tfidf, textrank or bert) and the term
feature is the score-weighted mean of the terms' Word2vec rows. The tagger and BERT run behind
callables, so training passes torch models and the SDK passes ONNX sessions.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from seje_sdk.errors import BundleError, InputError
from seje_sdk.subwords import SubwordTable
from seje_sdk.text import RecipeText, Vocab, tokenize

TaggerFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # tokens (B,L), lengths (B,) -> logits (B,L,2)
BertFn = Callable[[list[str]], np.ndarray]  # texts -> (n, d) L2-normalised sentence embeddings
RANKERS = ("tfidf", "textrank", "bert")
MAX_LINE_TOKENS = 32  # ingredient lines longer than this are cut before tagging
TEXT_CACHE_SIZE = 1 << 16  # texts whose joined tokens are memoised (the cache is emptied when full)
TAGGER_BUCKET = 128  # ingredient lines per tagger call, grouped by length
TEXTRANK_WINDOW = 4  # terms within this many positions of each other are linked (Mihalcea & Tarau use 2-10)
TEXTRANK_DAMPING = 0.85


@dataclass
class TermTables:
    """The tables the key-term pipeline needs; the same files in FEATURES_DIR and in a bundle's tables/."""

    vocab: Vocab
    vectors: np.ndarray  # (V, dim) float32, rows aligned with vocab
    idf: np.ndarray  # (V,) float32
    entities: frozenset[str]
    actions: frozenset[str]
    utensils: frozenset[str]
    # FastText n-gram table (features built with word_vectors "fasttext"): words outside the
    # vocabulary get a vector from their character n-grams instead of being dropped.
    subwords: SubwordTable | None = None
    phrases: dict[tuple[str, ...], str] = field(init=False, repr=False)
    heads: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.shape[0] != len(self.vocab) or self.idf.shape != (len(self.vocab),):
            raise BundleError(
                f"term tables disagree: vocab has {len(self.vocab)} tokens, word2vec {self.vectors.shape}, "
                f"idf {self.idf.shape}; rebuild the features"
            )
        self.phrases = phrase_table(self.entities)
        self.heads = entity_heads(self.entities)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def has_vector(self, term: str) -> bool:
        """A vocabulary word, or any word when the tables carry FastText subwords."""
        return term in self.vocab or self.subwords is not None

    def term_vectors(self, terms: Sequence[str]) -> np.ndarray:
        """(len(terms), dim) rows: the vocabulary's row, else the word's n-gram vector."""
        rows = self.vectors[self.vocab.encode(terms)].astype(np.float32)
        if self.subwords is not None:
            for i, t in enumerate(terms):
                if t not in self.vocab:
                    rows[i] = self.subwords.vector(t)
        return rows

    def term_idf(self, terms: Sequence[str]) -> np.ndarray:
        """Saved IDF per term; a word never seen in training gets the largest (it is rarer than any)."""
        idf = self.idf[self.vocab.encode(terms)].copy()
        idf[[t not in self.vocab for t in terms]] = float(self.idf.max()) if len(self.idf) else 1.0
        return idf

    @classmethod
    def load(cls, folder: str | Path) -> "TermTables":
        """Read vocab.json, word2vec.npy, idf.npy, entities.json and lexicon.json from `folder`."""
        folder = Path(folder)
        names = ("vocab.json", "word2vec.npy", "idf.npy", "entities.json", "lexicon.json")
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise BundleError(f"{folder}: missing term tables {missing}; rebuild the features with `seje-train features --data DATA_DIR --out FEATURES_DIR`, then re-export the bundle")
        lexicon = json.loads((folder / "lexicon.json").read_text(encoding="utf-8"))
        return cls(
            vocab=Vocab.load(folder / "vocab.json"),
            vectors=np.load(folder / "word2vec.npy").astype(np.float32, copy=False),
            idf=np.load(folder / "idf.npy").astype(np.float32, copy=False),
            entities=frozenset(json.loads((folder / "entities.json").read_text(encoding="utf-8"))),
            actions=frozenset(lexicon["actions"]),
            utensils=frozenset(lexicon["utensils"]),
            subwords=SubwordTable.load(folder),
        )


# ---------------------------------------------------------------- multi-word entity phrases
class PhraseTable(dict):
    """Multi-word entities as token tuples -> joined token, ("red", "wine") -> "red_wine"; caches the longest."""

    def __init__(self, entities: Iterable[str] = ()):
        super().__init__({tuple(e.split("_")): e for e in entities if "_" in e})
        self.longest = max(map(len, self), default=0)
        self.cache: dict[str, list[str]] = {}  # text -> its tokens with phrases joined (see text_terms)


def phrase_table(entities: Iterable[str]) -> PhraseTable:
    """The phrase table of an entity set (only multi-word entities need joining)."""
    return PhraseTable(entities)


def entity_heads(entities: frozenset[str] | set[str]) -> frozenset[str]:
    """Proper suffixes of multi-word entities ("all_purpose_flour" -> "purpose_flour", "flour").

    Lines often shorten a name to its head noun ("2 cups flour"); a tagged head is kept as itself.
    """
    return frozenset("_".join(p[i:]) for p in (e.split("_") for e in entities) for i in range(1, len(p)))


def join_phrases(tokens: Sequence[str], phrases: dict[tuple[str, ...], str]) -> list[str]:
    """Replace known entity phrases by their joined token, longest match first ("red wine" -> "red_wine")."""
    if not phrases:
        return list(tokens)
    longest = phrases.longest if isinstance(phrases, PhraseTable) else max(map(len, phrases))
    out, i = [], 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 1, -1):
            joined = phrases.get(tuple(tokens[i : i + n]))
            if joined is not None:
                out.append(joined)
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def text_terms(text: str, phrases: dict[tuple[str, ...], str]) -> list[str]:
    """join_phrases(tokenize(text)), memoised on a PhraseTable: a recipe's instructions are read
    by the tfidf counts and by the action/utensil lookup, so each line is tokenised once (do not mutate)."""
    cache = getattr(phrases, "cache", None)
    if cache is None:
        return join_phrases(tokenize(text), phrases)
    tokens = cache.get(text)
    if tokens is None:
        if len(cache) >= TEXT_CACHE_SIZE:
            cache.clear()
        tokens = cache[text] = join_phrases(tokenize(text), phrases)
    return tokens


def recipe_tokens(recipe: RecipeText, phrases: dict[tuple[str, ...], str]) -> list[str]:
    """Title, ingredient lines and instructions as one token stream with entity phrases joined."""
    tokens: list[str] = []
    for text in (recipe.title, *recipe.ingredients, *recipe.instructions):
        tokens.extend(text_terms(text, phrases))
    return tokens


# ---------------------------------------------------------------- ingredient entities
def encode_lines(lines: Sequence[str], vocab: Vocab) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """Tokenise ingredient lines and pad their ids to (B, L) int64 with lengths (B,) for the tagger."""
    toks = [tokenize(line)[:MAX_LINE_TOKENS] for line in lines]
    width = max([len(t) for t in toks] + [1])
    ids = np.zeros((len(toks), width), dtype=np.int64)
    lengths = np.array([len(t) for t in toks], dtype=np.int64)
    for b, t in enumerate(toks):
        ids[b, : len(t)] = vocab.encode(t)
    return toks, ids, lengths


def decode_entities(tokens: Sequence[str], tags: Sequence[bool], tables: TermTables) -> list[str]:
    """Tagged spans of one line -> entity tokens, kept only if known to the training entity set."""
    found, span = [], []
    for tok, tag in list(zip(tokens, tags)) + [("", False)]:
        if tag and not tok[:1].isdigit():
            span.append(tok)
            continue
        if span:
            name = "_".join(span)
            # A span the training set never saw as one entity may still contain known ones.
            known = name in tables.entities or name in tables.heads
            found.extend([name] if known else _dictionary_span(span, tables) or _subword_span(name, tables))
            span = []
    return found


def _subword_span(name: str, tables: TermTables) -> list[str]:
    """A tagged span made of words unseen in training ("gulabkhas") is kept when subwords can place it."""
    return [name] if tables.subwords is not None and not any(t in tables.vocab for t in name.split("_")) else []


def _dictionary_span(tokens: Sequence[str], tables: TermTables) -> list[str]:
    return [t for t in join_phrases(tokens, tables.phrases) if t in tables.entities]


def dictionary_entities(lines: Sequence[str], tables: TermTables) -> list[str]:
    """The dictionary-lookup baseline: known entity phrases found in the lines (longest match)."""
    return _unique(e for line in lines for e in _dictionary_span(tokenize(line), tables))


def ingredient_entities(lines: Sequence[str], tables: TermTables, tagger_fn: TaggerFn | None) -> list[str]:
    """Ingredient entity tokens of a recipe's raw ingredient lines (one tagger call for all lines).

    `tagger_fn=None` falls back to the dictionary lookup.
    """
    if tagger_fn is None:
        return dictionary_entities(lines, tables)
    toks, ids, lengths = encode_lines(lines, tables.vocab)
    return _unique(e for t, tags in zip(toks, _tags(tagger_fn, ids, lengths)) for e in decode_entities(t, tags, tables))


def _tags(tagger_fn: TaggerFn, ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    keep = lengths > 0
    tags: list[np.ndarray] = [np.zeros(0, dtype=bool)] * len(lengths)
    if not keep.any():
        return tags
    # Length buckets: lines sorted by length, TAGGER_BUCKET at a time, each trimmed to its own
    # longest line, so the BiLSTM does not run over a batch-wide padding (the mask makes it exact).
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(lengths[rows], kind="stable")]
    for start in range(0, len(rows), TAGGER_BUCKET):
        bucket = rows[start : start + TAGGER_BUCKET]
        width = int(lengths[bucket].max())
        logits = np.asarray(tagger_fn(np.ascontiguousarray(ids[bucket, :width]), lengths[bucket]))
        if logits.ndim != 3 or logits.shape[:2] != (len(bucket), width) or logits.shape[2] != 2:
            raise InputError(f"tagger returned logits of shape {logits.shape}, expected {(len(bucket), width, 2)}")
        for row, b in enumerate(bucket):
            tags[b] = logits[row, : lengths[b], 1] > logits[row, : lengths[b], 0]
    return tags


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------- key terms
def key_terms(recipe: RecipeText, tables: TermTables, tagger_fn: TaggerFn | None, title_terms: bool = False) -> list[str]:
    """Ingredient entities (+ title words) + actions + utensils of the instructions (entities removed); only terms with a vector."""
    entities = ingredient_entities(recipe.ingredients, tables, tagger_fn)
    return _key_terms_from(entities, recipe, tables, title_terms)


def title_words(title: str, tables: TermTables) -> list[str]:
    """The title's words (entity phrases joined) that have a Word2vec row; numbers dropped ("Pie II" -> pie, ii)."""
    return [t for t in text_terms(title, tables.phrases) if tables.has_vector(t) and not t[0].isdigit()] if title else []


def _key_terms_from(entities: list[str], recipe: RecipeText, tables: TermTables, title_terms: bool = False) -> list[str]:
    # Title words make the title a model input (a title-only query is a recipe too); tf-idf
    # weighs them like any term, so "with" or "and" (idf ~1) count little beside "curry" (~4.6).
    titled = title_words(recipe.title, tables) if title_terms else []
    removed = set(entities) | tables.entities
    instr = [t for s in recipe.instructions for t in text_terms(s, tables.phrases) if t not in removed]
    actions = [t for t in instr if t in tables.actions]
    utensils = [t for t in instr if t in tables.utensils]
    return _unique(t for t in entities + titled + actions + utensils if tables.has_vector(t))


# ---------------------------------------------------------------- rankers
def rank_terms(
    terms: Sequence[str], recipe: RecipeText, tables: TermTables, ranker: str = "tfidf", bert_fn: BertFn | None = None
) -> np.ndarray:
    """A score per key term (higher = more important) from the chosen ranker."""
    if ranker not in RANKERS:
        raise InputError(f"unknown ranker {ranker!r}; choose one of {', '.join(RANKERS)}")
    if not terms:
        return np.zeros(0, dtype=np.float32)
    if ranker == "tfidf":
        return tfidf_scores(terms, recipe, tables)
    if ranker == "textrank":
        return textrank_scores(terms, recipe, tables)
    if bert_fn is None:
        raise InputError("ranker 'bert' needs a BERT model (bert_fn); pass --bert-model PATH or use tfidf/textrank")
    return bert_scores([list(terms)], [recipe], bert_fn)[0]


def tfidf_scores(terms: Sequence[str], recipe: RecipeText, tables: TermTables) -> np.ndarray:
    """Term frequency in the recipe (at least 1: tagged entities may be paraphrased) times the saved IDF."""
    counts = Counter(recipe_tokens(recipe, tables.phrases))
    tf = np.array([max(counts[t], 1) for t in terms], dtype=np.float32)
    return tf * tables.term_idf(terms)


def cooccurrence_matrix(terms: Sequence[str], recipe: RecipeText, tables: TermTables) -> np.ndarray:
    """Symmetric weights: how often two terms occur within TEXTRANK_WINDOW terms of each other."""
    index = {t: i for i, t in enumerate(terms)}
    seq = [index[t] for t in recipe_tokens(recipe, tables.phrases) if t in index]
    w = np.zeros((len(terms), len(terms)), dtype=np.float64)
    for a in range(len(seq)):
        for b in range(a + 1, min(a + TEXTRANK_WINDOW, len(seq))):
            if seq[a] != seq[b]:
                w[seq[a], seq[b]] += 1.0
                w[seq[b], seq[a]] += 1.0
    return w


def pagerank(w: np.ndarray, damping: float = TEXTRANK_DAMPING, tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Weighted PageRank by power iteration; dangling nodes spread uniformly (as networkx.pagerank does)."""
    n = w.shape[0]
    out = w.sum(axis=1)
    dangling = out == 0
    m = np.divide(w, out[:, None], out=np.zeros_like(w), where=~dangling[:, None])
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        prev = x
        x = damping * (x @ m + x[dangling].sum() / n) + (1.0 - damping) / n
        if np.abs(x - prev).sum() < n * tol:
            break
    return x


def textrank_scores(terms: Sequence[str], recipe: RecipeText, tables: TermTables) -> np.ndarray:
    """TextRank: PageRank over the recipe's term co-occurrence graph."""
    return pagerank(cooccurrence_matrix(terms, recipe, tables)).astype(np.float32)


def recipe_sentence(recipe: RecipeText) -> str:
    """The recipe as one text for BERT: title, ingredients, instructions."""
    return ". ".join([recipe.title, ", ".join(recipe.ingredients), " ".join(recipe.instructions)]).strip(". ")


def bert_scores(terms_list: Sequence[Sequence[str]], recipes: Sequence[RecipeText], bert_fn: BertFn) -> list[np.ndarray]:
    """KeyBERT-style: cosine of each term's embedding with its recipe's embedding (one bert_fn call)."""
    uniq = _unique(t for terms in terms_list for t in terms)
    texts = [t.replace("_", " ") for t in uniq] + [recipe_sentence(r) for r in recipes]
    emb = np.asarray(bert_fn(texts), dtype=np.float32)
    if emb.shape[0] != len(texts):
        raise InputError(f"bert_fn returned {emb.shape[0]} embeddings for {len(texts)} texts")
    row = {t: i for i, t in enumerate(uniq)}
    recipe_emb = emb[len(uniq) :]
    return [emb[[row[t] for t in terms]] @ recipe_emb[i] if terms else np.zeros(0, np.float32) for i, terms in enumerate(terms_list)]


# ---------------------------------------------------------------- pooling
def pool_terms(terms: Sequence[str], scores: np.ndarray, tables: TermTables) -> np.ndarray:
    """Score-weighted mean of the terms' Word2vec rows (negative scores count as 0; all-zero -> plain mean)."""
    if not terms:
        return np.zeros(tables.dim, dtype=np.float32)
    weights = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(terms), 1.0 / len(terms))
    return (weights @ tables.term_vectors(terms).astype(np.float64)).astype(np.float32)


def term_features(
    recipes: Sequence[RecipeText],
    tables: TermTables,
    tagger_fn: TaggerFn | None,
    ranker: str = "tfidf",
    bert_fn: BertFn | None = None,
    title_terms: bool = False,
) -> np.ndarray:
    """The (B, dim) float32 weighted term features of a batch; a recipe without key terms gets zeros.

    The tagger runs once over all ingredient lines of the batch (and BERT once, for ranker='bert').
    `title_terms`: the title's words are key terms too (features built with FeatureConfig.title_terms).
    """
    if ranker not in RANKERS:
        raise InputError(f"unknown ranker {ranker!r}; choose one of {', '.join(RANKERS)}")
    terms_list = batch_key_terms(recipes, tables, tagger_fn, title_terms)
    if ranker == "bert":
        if bert_fn is None:
            raise InputError("ranker 'bert' needs a BERT model (bert_fn); pass --bert-model PATH or use tfidf/textrank")
        scores = bert_scores(terms_list, recipes, bert_fn)
    else:
        scores = [rank_terms(t, r, tables, ranker) for t, r in zip(terms_list, recipes)]
    out = np.zeros((len(recipes), tables.dim), dtype=np.float32)
    for i, (terms, s) in enumerate(zip(terms_list, scores)):
        out[i] = pool_terms(terms, s, tables)
    return out


def batch_key_terms(recipes: Sequence[RecipeText], tables: TermTables, tagger_fn: TaggerFn | None,
                    title_terms: bool = False) -> list[list[str]]:
    """key_terms for a batch with a single tagger call over every ingredient line."""
    if tagger_fn is None:
        return [key_terms(r, tables, None, title_terms) for r in recipes]
    lines = [line for r in recipes for line in r.ingredients]
    toks, ids, lengths = encode_lines(lines, tables.vocab)
    tags = _tags(tagger_fn, ids, lengths)
    out, start = [], 0
    for r in recipes:
        stop = start + len(r.ingredients)
        entities = _unique(e for t, g in zip(toks[start:stop], tags[start:stop]) for e in decode_entities(t, g, tables))
        out.append(_key_terms_from(entities, r, tables, title_terms))
        start = stop
    return out
