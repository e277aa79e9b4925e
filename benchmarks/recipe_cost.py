"""Per-recipe cost of the SDK's recipe path, split into preprocessing and the recipe graph.

    python -m benchmarks.recipe_cost runs/demo/bundle runs/demo/data --n 256 --threads 2

Compares bundles whose sentence encoders differ (skip-instructions: a word LSTM inside the
graph; MiniLM: word-piece slots, the transformer inside the graph). Preprocessing is
seje_sdk.recipe.recipe_inputs (tokenising, tagger, term ranking, slot packing); the graph is one
ONNX Runtime run per batch of the SDK's feeds; end to end is Retriever.embed_recipes (length
bucketing, a prepare thread one batch ahead). Prints one Markdown row per bundle; never asserts timings.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Any

from benchmarks.inputs import read_recipes, sdk_recipe_batch


def _best(fn: Any, repeats: int) -> float:
    """Best wall time of `repeats` calls (the least disturbed by the other jobs on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(bundle_dir: str, data_dir: str, n: int = 256, batch_size: int = 32, threads: int = 2, repeats: int = 3
            ) -> dict[str, Any]:
    """ms per recipe: preprocessing, graph, and end to end, over the first n test recipes of data_dir."""
    from seje_sdk import Retriever

    retriever = Retriever.load(bundle_dir, backend="onnxruntime", threads=threads)
    recipes, _ = read_recipes(data_dir, "test", n)
    chunks = [recipes[i:i + batch_size] for i in range(0, len(recipes), batch_size)]
    batches = [sdk_recipe_batch(retriever, c) for c in chunks]  # warm-up too
    session = retriever.sessions["recipe"]
    prepare = _best(lambda: [sdk_recipe_batch(retriever, c) for c in chunks], repeats)
    graph = _best(lambda: [session.run(b.feeds()) for b in batches], repeats)
    total = _best(lambda: retriever.embed_recipes(recipes, batch_size=batch_size), repeats)
    entry = retriever.bundle.manifest["text"].get("sentence_encoder", {"name": "skip"})
    per = 1000.0 / len(recipes)
    return {"bundle": str(bundle_dir), "sentence_encoder": entry.get("name", "skip"), "fields": entry.get("fields", 0),
            "recipes": len(recipes), "batch_size": batch_size, "threads": threads,
            "prepare_ms": round(prepare * per, 2), "graph_ms": round(graph * per, 2), "embed_ms": round(total * per, 2),
            "mean_slots": round(float(sum((b.sentence_lengths > 0).sum() for b in batches)) / len(recipes), 1),
            "recipe_graph_mb": round(os.path.getsize(retriever.bundle.path / "recipe_encoder.onnx") / 2**20, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", help="BUNDLE_DIR ... DATA_DIR (the last one is the data)")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    *bundles, data = args.bundles
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, ORT intra-op threads {args.threads}")
    print("| sentence encoder | field slots | recipes | slots/recipe | prepare ms/recipe | graph ms/recipe "
          "| embed_recipes ms/recipe | recipe_encoder.onnx MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for bundle in bundles:
        r = measure(bundle, data, args.n, args.batch_size, args.threads)
        print(f"| {r['sentence_encoder']} | {r['fields']} | {r['recipes']} | {r['mean_slots']} | {r['prepare_ms']} "
              f"| {r['graph_ms']} | {r['embed_ms']} | {r['recipe_graph_mb']} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
