"""Reproduce issue 13's int8 measurements on the demo run (64 held-out images)."""
import sys, time, os, json
import numpy as np
import onnxruntime as ort
from export.bundle import load_run_inputs, HeldOutConfig
from export.parity import torch_runner, compare
from export import int8 as q
from trainer.evaluate import rank_metrics

run = load_run_inputs("/tmp/int8bert/run", HeldOutConfig(parity_items=int(os.environ.get("N", 64)), calibration_images=int(os.environ.get("CAL", 64))))
ref = torch_runner(run.model, run.tagger)
held = run.held
img_ref, logit_ref = [], []
for feeds in held.batches("image", 16):
    o = ref("image", feeds); img_ref.append(o["embedding"]); logit_ref.append(o["category_logits"])
img_ref, logit_ref = np.concatenate(img_ref), np.concatenate(logit_ref)
rec_ref = np.concatenate([ref("recipe", f)["embedding"] for f in held.batches("recipe", 16)])
base = rank_metrics(img_ref, rec_ref)
print("pytorch i2r R@1", base["image_to_recipe"]["r1"], "r2i", base["recipe_to_image"]["r1"])
src = "/tmp/int8bert/bundle/image_encoder.onnx"

def sess(path, precise=None, threads=2):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.log_severity_level = 3
    if precise is not None:
        o.add_session_config_entry("session.x64quantprecision", "1" if precise else "0")
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

def speed(s, n=3):
    x = held.pixels[:32].astype(np.float32)
    if len(x) < 32: x = np.concatenate([x] * (32 // len(x) + 1))[:32]
    s.run(None, {"pixels": x})
    t = []
    for _ in range(n):
        t0 = time.perf_counter(); s.run(None, {"pixels": x}); t.append(time.perf_counter() - t0)
    return 32 / np.median(t)

def extra(excl):
    import onnx
    g = onnx.load(src).graph
    if excl == "dw":
        return [n.name for n in g.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    if excl == "pool":
        return [n.name for n in g.node if n.op_type in ("GlobalAveragePool", "Flatten", "Concat", "Gemm")]
    if excl.startswith("last"):
        convs = [n.name for n in g.node if n.op_type == "Conv"]
        return convs[-int(excl[4:]):]
    return []

def evaluate(name, path, precise=None):
    s = sess(path, precise)
    emb, lg = zip(*[s.run(["embedding", "category_logits"], {"pixels": held.pixels[i:i+16]}) for i in range(0, len(held), 16)])
    emb, lg = np.concatenate(emb), np.concatenate(lg)
    c = compare(img_ref, emb)
    flips = float((lg.argmax(1) != logit_ref.argmax(1)).mean())
    m = rank_metrics(emb, rec_ref)
    ips = 0
    cs = (emb * img_ref).sum(1); ok = lg.argmax(1) == logit_ref.argmax(1)
    print(f"   non-flipped cos min {cs[ok].min():.4f}; flipped items cos {np.round(cs[~ok], 3)}")
    print(f"{name:38s} cos min {c['cos_min']:.3f} mean {c['cos_mean']:.4f} flips {flips*100:.1f}% "
          f"i2r R@1 {m['image_to_recipe']['r1']:.1f} r2i {m['recipe_to_image']['r1']:.1f} {ips:.0f} img/s load {os.getloadavg()[0]:.2f}", flush=True)

evaluate("fp32", src)
for wt in sys.argv[1:]:
    fmt, excl, cal = wt.split(":")
    dst = f"/tmp/int8bert/m/img_{fmt}_{excl}_{cal}.onnx"
    import export.int8 as q2
    if not os.path.exists(dst):
        info = q2.quantize_image_static(src, dst, run.calibration, keep_classifier=(excl in ("cls", "both")), method=cal,
                                        keep_first_conv=(excl in ("stem", "both")), exclude=extra(excl), measure=False)
        print(info["fp32_nodes"])
    evaluate(f"{fmt} excl={excl} cal={cal}", dst)
    evaluate(f"{fmt} excl={excl} cal={cal} +x64prec", dst, precise=True)
    if os.environ.get("SPEED"):
        from export.int8 import measure_speed
        for p in (False, True):
            os.environ["SEJE_INT8_PRECISE"] = "1" if p else "0"
            print("speed precise", p, measure_speed(src, dst, held.pixels, repeats=7), flush=True)
        os.environ.pop("SEJE_INT8_PRECISE")
