"""Per-recipe cost of the SDK's recipe path, and whether bundles of one run embed recipes alike.

    python -m benchmarks.recipe_cost runs/small/bundle-old runs/small/bundle runs/small/bundle@int8 \
        runs/small/data --n 64 --batch-sizes 1,32 --threads 2 --compare --out runs/small/recipe_cost

Each BUNDLE[@precision] is timed on Retriever.embed_recipes (tokenising, tagger, term ranking,
MiniLM's sentence graph where the bundle has one, the recipe graph) over the first n test recipes
at each batch size, best of `repeats`. The word-piece columns count, at the largest batch size,
the MiniLM word pieces a recipe really has and those the graphs run (padding included). With
`--compare`, every bundle embeds the whole test split (recipes and photos); the report gives each
one's recipe-vector cosine to the first bundle and its retrieval beside chance and the category
oracle. `--int8-sentence` quantises the first split bundle's sentence graph (ONNX Runtime dynamic
int8) and compares it with fp32. Prints Markdown, writes OUT.md / OUT.json; never asserts timings.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable

import numpy as np


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of `repeats` calls (the least disturbed by the other jobs on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _open(spec: str, threads: int) -> Any:
    from seje_sdk import Retriever

    path, _, precision = spec.partition("@")
    return Retriever.load(path, backend="onnxruntime", precision=precision or "fp32", threads=threads)


def layout(retriever: Any) -> str:
    """skip | minilm in recipe graph | minilm sentence graph."""
    from seje_sdk.sentences import has_sentence_graph, minilm_entry

    if minilm_entry(retriever.bundle) is None:
        return "skip"
    return "minilm sentence graph" if has_sentence_graph(retriever.bundle) else "minilm in recipe graph"


def word_pieces(retriever: Any, recipes: list[dict], batch_size: int) -> tuple[float, float]:
    """(real, run) MiniLM word pieces per recipe when the SDK embeds `recipes` in batches of batch_size."""
    from seje_sdk.recipe import parse_recipes
    from seje_sdk.sentences import SentenceVectors, SlotEncoder, buckets, slot_texts

    slots = retriever._embedder.slots
    if slots is None:
        return 0.0, 0.0
    real = run = 0
    for start in range(0, len(recipes), batch_size):
        batch = parse_recipes(recipes[start:start + batch_size])
        texts = [t for r in batch for t in slot_texts(r, slots.max_sentences, slots.fields)]
        lengths = [sum(e.attention_mask) for e in slots.tokenizer.encode_batch(texts)]
        real += sum(lengths)
        if isinstance(slots, SentenceVectors):
            distinct = list(dict.fromkeys(zip(texts, lengths)))
            run += sum(len(b) * max(distinct[i][1] for i in b) for b in buckets([n for _, n in distinct], slots.max_texts))
        elif isinstance(slots, SlotEncoder):
            tokens, _ = slots(batch)
            run += tokens.size
    return real / len(recipes), run / len(recipes)


def measure(spec: str, recipes: list[dict], batch_sizes: list[int], threads: int, repeats: int) -> dict[str, Any]:
    """ms per recipe of embed_recipes at each batch size, graph sizes and word pieces of one bundle."""
    r = _open(spec, threads)
    row: dict[str, Any] = {"bundle": spec, "layout": layout(r), "precision": r.precision, "recipes": len(recipes),
                           "threads": threads, "load_before": round(os.getloadavg()[0], 2)}
    for b in batch_sizes:
        r.embed_recipes(recipes[:b], batch_size=b)  # warm-up
        seconds = _best(lambda: r.embed_recipes(recipes, batch_size=b), repeats)
        row[f"ms_b{b}"] = round(1000.0 * seconds / len(recipes), 2)
    row["load_after"] = round(os.getloadavg()[0], 2)
    row["word_pieces_real"], row["word_pieces_run"] = (round(x, 1) for x in word_pieces(r, recipes, max(batch_sizes)))
    row["graph_mb"] = {role: round(os.path.getsize(s.path) / 2**20, 1) for role, s in r.sessions.items()}
    return row


def compare(specs: list[str], data_dir: str, threads: int) -> dict[str, Any]:
    """Each bundle over the whole test split: recipe-vector cosine to the first bundle, retrieval, chance, oracle."""
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import rank_metrics
    from trainer.references import reference_metrics

    records = read_split(data_dir, "test", require_images=True)
    recipes = [{"title": x.title, "ingredients": list(x.ingredients), "instructions": list(x.instructions)} for x in records]
    images = [str(x.image_paths[0]) for x in records]
    labels = np.array([x.class_id if x.class_id is not None else -1 for x in records])
    out: dict[str, Any] = {"pairs": len(records), "references": reference_metrics([labels]), "bundles": {}}
    first = None
    for spec in specs:
        r = _open(spec, threads)
        rec, img = r.embed_recipes(recipes, batch_size=32), r.embed_images(images, batch_size=32)
        first = rec if first is None else first
        cos = (rec * first).sum(1)
        out["bundles"][spec] = {"cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                                "retrieval": rank_metrics(img, rec)}
    return out


def int8_sentence(spec: str, recipes: list[dict], threads: int, repeats: int) -> dict[str, Any]:
    """ORT dynamic int8 (the bert ranker's settings) of a bundle's sentence graph against its fp32: cosine and speed
    on the slot texts of `recipes`, run in the SDK's buckets."""
    import tempfile

    from export.int8 import RANKER_INT8, quantize_graph_dynamic
    from export.onnx import ort_session
    from seje_sdk.recipe import parse_recipes
    from seje_sdk.sentences import embed_ids, slot_texts

    r = _open(spec, threads)
    slots = r._embedder.slots
    texts = [t for x in parse_recipes(recipes) for t in slot_texts(x, slots.max_sentences, slots.fields)]
    ids = [e.ids[:sum(e.attention_mask)] for e in slots.tokenizer.encode_batch(texts)]
    out: dict[str, Any] = {"bundle": spec, "texts": len(ids), "settings": dict(RANKER_INT8)}
    with tempfile.TemporaryDirectory() as tmp:
        quantize_graph_dynamic(r.sessions["sentence"].path, f"{tmp}/s8.onnx", **RANKER_INT8)
        vectors = {}
        for name, path in (("fp32", r.sessions["sentence"].path), ("int8", f"{tmp}/s8.onnx")):
            session = ort_session(path, threads)
            run = lambda feeds, s=session: {"embedding": s.run(None, feeds)[0]}  # noqa: E731
            vectors[name] = embed_ids(ids, run, slots.dim)
            out[f"{name}_ms_per_text"] = round(1000 * _best(lambda: embed_ids(ids, run, slots.dim), repeats) / len(ids), 3)
    cos = (vectors["fp32"] * vectors["int8"]).sum(1)
    out.update(cos_min=float(cos.min()), cos_mean=float(cos.mean()))
    return out


def markdown(rows: list[dict[str, Any]], batch_sizes: list[int], comparison: dict[str, Any] | None) -> str:
    """The latency table (and the comparison table) as Markdown."""
    cols = " | ".join(f"ms/recipe batch {b}" for b in batch_sizes)
    lines = [f"| bundle | layout | precision | {cols} | word pieces/recipe real / run | graphs MB | load |",
             "|---|---|---|" + "---:|" * len(batch_sizes) + "---:|---|---|"]
    for r in rows:
        ms = " | ".join(str(r[f"ms_b{b}"]) for b in batch_sizes)
        mb = ", ".join(f"{k} {v}" for k, v in r["graph_mb"].items() if k != "image")
        lines.append(f"| {r['bundle']} | {r['layout']} | {r['precision']} | {ms} | {r['word_pieces_real']} / "
                     f"{r['word_pieces_run']} | {mb} | {r['load_before']}-{r['load_after']} |")
    if comparison:
        lines += ["", f"Whole test split ({comparison['pairs']} pairs), recipe cosine to the first bundle; "
                  "R@1 / R@10 / MedR as image->recipe / recipe->image:", "",
                  "| bundle | recipe cos min / mean | R@1 | R@10 | MedR |", "|---|---:|---:|---:|---:|"]

        def both(m: dict[str, Any], key: str) -> str:
            return f"{m['image_to_recipe'][key]:.1f} / {m['recipe_to_image'][key]:.1f}"

        for spec, c in comparison["bundles"].items():
            m = c["retrieval"]
            lines.append(f"| {spec} | {c['cos_min']:.6f} / {c['cos_mean']:.6f} | {both(m, 'r1')} | {both(m, 'r10')} "
                         f"| {both(m, 'medr')} |")
        for name, m in comparison["references"].items():
            lines.append(f"| {name.replace('_', ' ')} | | {both(m, 'r1')} | {both(m, 'r10')} | {both(m, 'medr')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", help="BUNDLE_DIR[@precision] ... DATA_DIR (the last one is the data)")
    parser.add_argument("--n", type=int, default=64, help="test recipes timed")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="cosine to the first bundle and retrieval, whole test split")
    parser.add_argument("--int8-sentence", action="store_true",
                        help="also quantise the first split bundle's sentence graph (int8) and compare it with fp32")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    args = parser.parse_args(argv)
    *specs, data = args.bundles
    from benchmarks.environment import cpu_flags
    from benchmarks.inputs import read_recipes

    recipes, _ = read_recipes(data, "test", args.n)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    flags = cpu_flags()
    head = (f"{os.cpu_count()} CPUs ({' '.join(flags)}), ORT intra-op threads {args.threads}, {len(recipes)} test "
            f"recipes, best of {args.repeats}; load = 1-minute load average before-after each bundle")
    print(head)
    rows = []
    for spec in specs:
        rows.append(measure(spec, recipes, sizes, args.threads, args.repeats))
        print(rows[-1], flush=True)
    comparison = compare(specs, data, args.threads) if args.compare else None
    text = head + "\n\n" + markdown(rows, sizes, comparison)
    quantised = None
    split = [spec for spec, row in zip(specs, rows) if row["layout"] == "minilm sentence graph"]
    if args.int8_sentence and split:
        quantised = int8_sentence(split[0], recipes, args.threads, args.repeats)
        text += (f"\n\nSentence graph int8 vs fp32 on {quantised['texts']} slot texts: cosine min "
                 f"{quantised['cos_min']:.4f} / mean {quantised['cos_mean']:.4f}; ms per text fp32 "
                 f"{quantised['fp32_ms_per_text']}, int8 {quantised['int8_ms_per_text']}")
    print(text)
    if args.out:
        from seje_sdk.io import atomic_file

        with atomic_file(f"{args.out}.md", "w") as f:
            f.write(text + "\n")
        with atomic_file(f"{args.out}.json", "w") as f:
            json.dump({"setup": head, "rows": rows, "comparison": comparison, "int8_sentence": quantised}, f, indent=1)


if __name__ == "__main__":
    main()
