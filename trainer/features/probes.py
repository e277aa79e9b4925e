"""Quality checks of the Phase 1 features: linear probes and ranker disagreement."""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from seje_sdk.errors import InputError
from seje_sdk.terms import TermTables, bert_scores, rank_terms
from seje_sdk.text import RecipeText

from trainer.features.config import FeatureConfig


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int = 0) -> dict:
    """Val accuracy of a logistic regression on one feature, next to the majority-class rate (chance)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(x_val) == 0 or len(set(y_train.tolist())) < 2:
        return {}
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=2000, random_state=seed).fit(scaler.transform(x_train), y_train)
    acc = float((clf.predict(scaler.transform(x_val)) == y_val).mean())
    majority = float(np.bincount(y_val).max() / len(y_val))
    return {"accuracy": round(acc, 4), "chance": round(majority, 4), "val": int(len(y_val))}


def ranker_disagreement(
    recipes: Sequence[RecipeText], terms_list: Sequence[list[str]], tables: TermTables, cfg: FeatureConfig
) -> dict:
    """For each pair of rankers: how often their top-1 term differs, and the mean Kendall tau of their scores."""
    from scipy.stats import kendalltau

    scores = {name: [rank_terms(t, r, tables, name) for t, r in zip(terms_list, recipes)] for name in ("tfidf", "textrank")}
    note = ""
    if cfg.compare_bert or cfg.ranker == "bert":
        try:
            from trainer.features.rankers import bert_fn_from

            scores["bert"] = bert_scores(terms_list, recipes, bert_fn_from(cfg.bert_model))
        except InputError as e:
            note = f"bert skipped: {e}"
    pairs = {}
    multi = [i for i, t in enumerate(terms_list) if len(t) >= 2]
    for a, b in itertools.combinations(scores, 2):
        if not multi:
            break
        differ = np.mean([np.argmax(scores[a][i]) != np.argmax(scores[b][i]) for i in multi])
        taus = [kendalltau(scores[a][i], scores[b][i]).statistic for i in multi]
        pairs[f"{a}/{b}"] = {"top1_differs": round(float(differ), 4), "kendall_tau": round(float(np.nanmean(taus)), 4)}
    return {"recipes": len(multi), "pairs": pairs, **({"note": note} if note else {})}
