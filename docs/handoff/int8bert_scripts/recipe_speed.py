"""embed_recipes vs the recipe graph alone, batch 64, 2 threads (demo bundle, demo recipes)."""
import json, os, sys, time
import numpy as np
from seje_sdk import Retriever
from seje_sdk.recipe import parse_recipes, recipe_inputs
from seje_sdk.text import split_sentences

bundle = sys.argv[1] if len(sys.argv) > 1 else "/tmp/int8bert/bundle"
n = int(os.environ.get("N", 512))
layer1 = json.load(open("/work/main/runs/demo/data/layer1.json"))[:n]
r = Retriever.load(bundle, backend="onnxruntime", threads=2)
r.embed_recipes(layer1[:64], batch_size=64)  # warm-up
load0 = os.getloadavg()[0]
t0 = time.perf_counter(); v = r.embed_recipes(layer1, batch_size=64); t_sdk = time.perf_counter() - t0
# the graph alone on the same batches (prepared beforehand, sorted by length as the SDK does)
recs = parse_recipes(layer1)
order = sorted(range(n), key=lambda j: (len(split_sentences(recs[j].instructions)), 0))
lim = r.bundle.text_limits
tagger = r.sessions["tagger"]
tf = lambda t, l: tagger.run({"tokens": t, "lengths": l})["logits"]
bert = getattr(r, "bert", None)
t1 = time.perf_counter()
feeds = [recipe_inputs([recs[j] for j in order[i:i + 64]], r.tables, lim.max_sentences, lim.max_tokens, tf, r.bundle.ranker, bert)
         for i in range(0, n, 64)]
t_prep = time.perf_counter() - t1
t0 = time.perf_counter()
for f in feeds:
    r.sessions["recipe"].run(f)
t_graph = time.perf_counter() - t0
print(f"{bundle}: n={n} embed_recipes {n / t_sdk:.0f} rec/s; graph alone {n / t_graph:.0f} rec/s; "
      f"ratio {t_graph / t_sdk:.2f}; preprocessing alone {n / t_prep:.0f} rec/s ({1000 * t_prep / n:.2f} ms/recipe); "
      f"load {load0:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
