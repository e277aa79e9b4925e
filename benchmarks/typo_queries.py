"""Typed titles with a typo: title -> photo when the misspelt word is dropped (what a vocabulary alone
does) and when the SDK's Speller reads it as the vocabulary word spelt most like it, per cutoff,
beside the clean titles, chance and the category-only oracle; plus how often a random letter string
would be read as some word (a false reading).

    python -m benchmarks.typo_queries RUN_DIR --out benchmarks/results/typo_queries

The run must have a text encoder. One typo per title, in one vocabulary word of 5+ letters: a
letter deleted or two neighbours swapped (never a vocabulary word).
"""
from __future__ import annotations

import string
from pathlib import Path

import numpy as np

from benchmarks.title_ceiling import title_command

CUTOFFS = (0.7, 0.75, 0.8, 0.85)


def misspell(word: str, rng: np.random.Generator) -> str:
    """One typo: an inner letter deleted, or two inner neighbours swapped (never the same word back)."""
    i = int(rng.integers(1, len(word) - 2))
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:] if rng.random() < 0.5 or swapped == word else swapped


def typo_titles(titles: list[str], vocab, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Each title with one typo (titles without a long enough known word stay clean) and the (typo, word) pairs."""
    from seje_sdk.text import tokenize

    rng, out, pairs = np.random.default_rng(seed), [], []
    for title in titles:
        words = tokenize(title)
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w in vocab]
        if long:
            i = long[int(rng.integers(len(long)))]
            typo = misspell(words[i], rng)
            if typo not in vocab:
                pairs.append((typo, words[i]))
                words = words[:i] + [typo] + words[i + 1:]
        out.append(" ".join(words))
    return out, pairs


def read_with(texts: list[str], vocab, cutoff: float | None) -> list[str | None]:
    """The texts as the SDK's text encoder reads them: Speller readings at `cutoff` (None: unknown words dropped).

    A text the SDK refuses (no word it can read) is None.
    """
    from seje_sdk.errors import InputError
    from seje_sdk.text_query import Speller, text_query

    nearest = None if cutoff is None else Speller(vocab, cutoff)
    out = []
    for t in texts:
        try:
            out.append(text_query(t, vocab, nearest=nearest).model_text)
        except InputError:
            out.append(None)
    return out


def score(texts: list[str | None], embed, images: np.ndarray, bags: list[np.ndarray]) -> dict[str, float]:
    """Metrics over the bags; a refused query finds nothing (a zero vector: every photo ties, ranked last)."""
    from benchmarks.title_ceiling import bag_means

    refused = np.array([t is None for t in texts])
    queries = np.zeros((len(texts), images.shape[1]), np.float32)
    if (~refused).any():
        queries[~refused] = embed([t for t in texts if t is not None])
    return {**bag_means(lambda b: queries[b] @ images[b].T, bags), "refused": int(refused.sum())}


def typo_report(run_dir: Path, bag_size: int, n_bags: int, seed: int) -> dict:
    """Rows (clean, dropped, substituted per threshold) with substitution accuracy and false readings."""
    import json

    from benchmarks.partial_queries import embed_texts_torch
    from benchmarks.title_ceiling import photo_side
    from seje_sdk.text import Vocab
    from seje_sdk.text_query import Speller
    from trainer.evaluate import draw_bags
    from trainer.references import reference_metrics

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    vocab = Vocab.load(Path(config["features_dir"]) / "vocab.json")
    images, _, labels, titles = photo_side(run_dir)
    typos, pairs = typo_titles(titles, vocab, seed)
    rng = np.random.default_rng(seed)
    bags = draw_bags(len(images), bag_size, n_bags, rng)
    noise = ["".join(rng.choice(list(string.ascii_lowercase), size=len(w))) for w, _ in pairs]
    embed = lambda texts: embed_texts_torch(run_dir / "text_encoder.pt", run_dir, texts)  # noqa: E731
    rows = {"clean titles": score(titles, embed, images, bags),
            "one typo, unknown word dropped": score(read_with(typos, vocab, None), embed, images, bags)}
    readings = {}
    for cutoff in CUTOFFS:
        rows[f"one typo, read as the word spelt most like it (cutoff {cutoff})"] = score(
            read_with(typos, vocab, cutoff), embed, images, bags)
        speller = Speller(vocab, cutoff)
        got = [speller(typo) for typo, _ in pairs]
        readings[str(cutoff)] = {"right": float(np.mean([g == w for g, (_, w) in zip(got, pairs)])),
                                 "wrong": float(np.mean([g is not None and g != w for g, (_, w) in zip(got, pairs)])),
                                 "random_string_read": float(np.mean([speller(x) is not None for x in noise]))}
    refs = reference_metrics([labels[b] for b in bags], seed)
    rows.update({name.replace("_", "-"): refs[name]["recipe_to_image"] for name in ("category_oracle", "chance")})
    return {"rows": rows, "readings": readings, "typos": len(pairs), "titles": len(titles),
            "examples": pairs[:8], "bag_size": bag_size, "n_bags": n_bags}


def markdown(report: dict) -> str:
    lines = [f"Title-only queries -> photo, {report['n_bags']} bags of {report['bag_size']} test pairs (ties against); "
             f"{report['typos']} of {report['titles']} titles got one typo.", "",
             "| query | MedR | R@1 | R@10 | refused (no readable word) |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {m['medr']:.1f} | {m['r1']:.1f} | {m['r10']:.1f} | {m.get('refused', '')} |"
              for name, m in report["rows"].items()]
    lines += ["", "| cutoff | typo read as its word | read as another word | random string read as a word |",
              "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {t} | {100 * r['right']:.1f}% | {100 * r['wrong']:.1f}% | {100 * r['random_string_read']:.1f}% |"
              for t, r in report["readings"].items()]
    lines += ["", "Examples (typo, word): " + ", ".join(f"{a} ({b})" for a, b in report["examples"])]
    return "\n".join(lines)


main = title_command("benchmarks.typo_queries", typo_report, markdown,
                     "Typed titles with a typo, with and without the Speller's readings.")


if __name__ == "__main__":
    main()
