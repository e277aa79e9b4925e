"""Preprocessing cost per recipe with the bert ranker (fp32 / int8 graph) vs tfidf, demo bundle tables + tagger, batch 64."""
import json, os, time
from seje_sdk.bert import BertRanker
from seje_sdk.backends.onnxruntime import OrtSession
from seje_sdk.recipe import parse_recipes
from seje_sdk.terms import TermTables, term_features
n = 256
recs = parse_recipes(json.load(open("/work/main/runs/demo/data/layer1.json"))[:n])
tables = TermTables.load("/tmp/int8bert/bundle/tables")
tagger = OrtSession("/tmp/int8bert/bundle/tagger.onnx", intra_op_threads=2)
tf = lambda t, l: tagger.run({"tokens": t, "lengths": l})["logits"]
tok = "/tmp/int8bert/rk/tables/bert/tokenizer.json"
for name, fn, ranker in [("tfidf", None, "tfidf"), ("bert fp32", BertRanker(tok, "/tmp/int8bert/rk/ranker.onnx", threads=2), "bert"),
                         ("bert int8", BertRanker(tok, "/tmp/int8bert/rk/ranker.int8.onnx", threads=2), "bert")]:
    term_features(recs[:64], tables, tf, ranker, fn)
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, n, 64):
        term_features(recs[i:i + 64], tables, tf, ranker, fn)
    t, c = time.perf_counter() - t0, time.process_time() - c0
    print(f"{name:10s} wall {1000 * t / n:.1f} ms/recipe, CPU {1000 * c / n:.1f} ms/recipe (term features incl. tagger, 2 threads), load {load:.1f}", flush=True)
