"""`export_run`: RUN_DIR -> a verified, self-contained BUNDLE_DIR (schema `seje-bundle/1`).

Order of work: load the run and its real held-out data; export the three fp32 graphs; derive
fp16 / int8 variants; copy the tables; build TensorRT engines where possible; verify every
file (onnx.checker + parity against PyTorch); write manifest.json last. All of it happens in a
temporary sibling folder that replaces BUNDLE_DIR only when everything succeeded.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from export import int8 as int8_mod
from export.fp16 import convert_fp16
from export.onnx import DEFAULT_OPSET, IMAGE, RANKER, SENTENCE, check_io, check_onnx, export_graph, ort_session
from export.parity import (HeldOut, ParityError, Thresholds, compare, engine_runner, onnx_runner, run_all,
                           torch_runner, verify_parity)
from export.sentence_graph import (copy_sentence_tokenizer, example_inputs, graph_specs, is_split, sentence_encoder_entry,
                                   split_modules, torch_sentence_run)
from export.tables import copy_tables
from export.text_encoder import export_text_encoder
from seje_sdk.errors import BackendError, InputError
from seje_sdk.io import atomic_dir, sha256_file, write_json

from seje_sdk.bundle import BUNDLE_SCHEMA, bundle_fingerprint

ENGINES = ("auto", "tensorrt", "none")
REQUIRED_VARIANT = "onnxruntime/fp32"  # every other variant is optional: refused ones are left out


@dataclass(frozen=True)
class HeldOutConfig:
    """How much real data parity and int8 calibration use.

    Parity ranks the whole test split up to `parity_items` pairs: on 64 pairs one item is 1.6 R@1
    points and the gate's verdict was sampling luck (issue 19); see docs/runtimes.md for the cost.
    """

    parity_items: int = 2000  # test pairs (image i <-> recipe i), first ones of the split
    calibration_images: int = 64  # training images for static int8 calibration
    batch_size: int = 16


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, fp16: bool = False, int8: bool = False,
               engine: str = "auto", opset: int | None = None, max_batch: int = 64,
               triton_dir: str | os.PathLike | None = None, verify: bool = True,
               held_out: HeldOutConfig = HeldOutConfig(), timing_cache: str | os.PathLike | None = None,
               thresholds: Thresholds | None = None, strict: bool = False, sentence_graph: bool = True) -> Path:
    """Export RUN_DIR's encoders and tables to BUNDLE_DIR `out_dir`; return its path.

    MiniLM runs get MiniLM as its own graph (export.sentence_graph); `sentence_graph=False` keeps
    it inside the recipe graph, the layout of bundles exported before the split (for comparisons).

    A refused optional variant (fp16, int8, any TensorRT engine) is left out of the bundle and
    recorded in the manifest's `refused`. Raises ParityError (with the table) when the fp32 ONNX
    graphs differ from PyTorch beyond `thresholds` (with `strict`: when any variant does),
    BackendError for engine="tensorrt" without a GPU/TensorRT; BUNDLE_DIR is then left untouched.
    """
    from export import tensorrt as trt_mod

    if engine not in ENGINES:
        raise InputError(f"engine must be one of {ENGINES}, got {engine!r}")
    if max_batch < 1:
        raise InputError(f"max_batch must be >= 1, got {max_batch}")
    opset = opset or DEFAULT_OPSET
    thresholds = thresholds or Thresholds()
    # Probe TensorRT first: `--engine tensorrt` must fail before minutes of work, not after.
    env = trt_mod.detect() if engine != "none" else trt_mod.TrtEnvironment(False, reason="--engine none")
    if engine == "tensorrt" and not env.available:
        raise BackendError(f"--engine tensorrt: cannot build engines here: {env.reason}")
    if engine == "auto" and not env.available:
        print(f"seje-export: TensorRT engines skipped: {env.reason}")

    run = load_run_inputs(run_dir, held_out)
    run.split = sentence_graph and is_split(run.store.config)
    precisions = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])
    with atomic_dir(out_dir) as tmp:
        files, int8_settings = export_onnx_variants(run, tmp, precisions, opset)
        table_hashes = {**copy_tables(run.features_dir, tmp), **copy_sentence_tokenizer(run.store.config, tmp)}
        ranker = export_ranker(run, tmp, opset, thresholds if verify else None)
        variants: dict[str, Any] = {"onnxruntime": files}
        if env.available:
            engine_precisions = ["fp32"] + (["fp16"] if fp16 else [])
            variants["tensorrt"] = trt_mod.build_engines(tmp, engine_precisions, env, max_batch, run.limits(),
                                                         timing_cache or default_timing_cache(env), run.split)
        else:
            variants["tensorrt"] = {"skipped": env.reason}
        start = time.perf_counter()
        reference = run_all(torch_runner(run.model, run.tagger), run.held, held_out.batch_size)
        parity = (verify_bundle(run, tmp, variants, max_batch, held_out.batch_size, thresholds, reference,
                                strict=strict) if verify else None)
        if parity is not None:  # PyTorch + every variant over the held-out set, and the gate
            parity["seconds"] = round(time.perf_counter() - start, 1)
        refused = drop_refused(tmp, variants, parity) if parity else {}
        text_encoder = export_text_encoder(run.run_dir, run.store, run.texts, tmp, opset, thresholds if verify else None)
        if parity is not None and "parity" in ranker:
            parity["ranker"] = ranker.pop("parity")
        manifest = build_manifest(run, tmp, variants, {**table_hashes, **ranker.pop("hashes", {})}, ranker, env,
                                  parity, opset, max_batch)
        manifest["refused"] = refused
        if text_encoder is not None:  # typed-text queries (export/text_encoder.py); absent: the old way
            manifest["text_encoder"] = text_encoder
        if int8_settings and "int8" in variants["onnxruntime"]:
            manifest["int8"] = int8_settings
        manifest["near_duplicates"] = near_duplicates(run, reference)
        write_json(tmp / "manifest.json", manifest)
        if triton_dir is not None:
            from export.triton import write_triton_repo

            write_triton_repo(tmp, triton_dir, manifest)
    if parity:
        print(parity["table"])
        print(f"seje-export: parity on {parity['n_items']} test pairs took {parity['seconds']:.0f} s")
    for name, entry in refused.items():
        print(f"seje-export: {name} REFUSED and left out of the bundle: {'; '.join(entry['reasons'])}")
    return Path(out_dir)


# ------------------------------------------------------------------ inputs
@dataclass
class RunInputs:
    """The trained model, its tagger and the real data export needs."""

    run_dir: Path
    config: dict[str, Any]
    features_dir: Path
    model: Any
    tagger: Any
    store: Any
    image_size: int
    held: HeldOut
    calibration: np.ndarray
    texts: list[str]  # held-out recipe texts (titles, instruction sentences) for the BERT ranker's parity
    labels: np.ndarray  # category id per held-out pair (-1 = none): chance and the category oracle beside parity
    held_words: list[list[str]] = field(default_factory=list)  # each held-out recipe's words (near-duplicate report)
    split: bool = False  # MiniLM as its own graph, the recipe graph on sentence vectors (export.sentence_graph)

    def limits(self) -> dict[str, int]:
        from seje_sdk.terms import MAX_LINE_TOKENS

        config = self.store.config
        minilm = config.get("sentence_encoder", "skip") == "minilm"  # slots: fields + sentences of word pieces
        return {"image_size": self.image_size, "max_sentences": int(config["max_sentences"]) + self.store.sentence_fields,
                "max_tokens": int(config["minilm_max_tokens"] if minilm else config["max_tokens"]),
                "max_ingredient_tokens": MAX_LINE_TOKENS, "word_dim": int(self.store.term_features.shape[1]),
                "sentence_dim": int(self.store.sentence_dim)}


def load_run_inputs(run_dir: str | os.PathLike, cfg: HeldOutConfig = HeldOutConfig()) -> RunInputs:
    """Load RUN_DIR's best model, the tagger, and held-out test pairs + training images from its data."""
    from seje_sdk.image import ImageSpec, preprocess
    from seje_sdk.terms import encode_lines
    from trainer.data.recipe1m import iter_recipes
    from trainer.evaluate import recipe_inputs
    from trainer.features.store import FeatureStore
    from trainer.references import recipe_words
    from trainer.features.tagger import load_tagger
    from trainer.model import load_run

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise InputError(f"RUN_DIR {run_dir}: no config.json; pass a folder written by `seje-train fit --data DATA_DIR --features FEATURES_DIR --out RUN_DIR`")
    model, config = load_run(run_dir, "best")
    features_dir = Path(config["features_dir"])
    store = FeatureStore.load(features_dir)
    image_size = int(config.get("resolved_image_size") or store.config["image_size"])
    spec = ImageSpec.for_size(image_size)

    data_dir = Path(config["data_dir"])
    # Streamed and cut early: on Recipe1M the splits hold ~50k-250k recipes, we need a few dozen.
    test = list(islice(iter_recipes(data_dir, ("test",), require_images=True), cfg.parity_items))
    if len(test) < 2:
        raise InputError(f"{data_dir}: the test split has {len(test)} recipes with images; parity needs at least 2")
    train = list(islice(iter_recipes(data_dir, ("train",), require_images=True), cfg.calibration_images))
    pixels = np.stack([preprocess(r.image_paths[0], spec, where=f"test recipe {r.id}") for r in test])
    calibration = np.stack([preprocess(r.image_paths[0], spec, where=f"train recipe {r.id}") for r in train])
    tokens, lengths, terms = recipe_inputs(test, store, features_dir)
    lines = [line for r in test for line in r.ingredients if line.strip()]
    _, tag_ids, tag_lengths = encode_lines(lines, store.vocab)
    keep = tag_lengths > 0  # an empty line is not a tagger input anyone sends
    held = HeldOut(pixels, tokens, lengths, terms, tag_ids[keep], tag_lengths[keep])
    texts = [t for r in test for t in (r.title, *r.instructions[:1]) if t.strip()]
    labels = np.array([r.class_id if r.class_id is not None else -1 for r in test])
    return RunInputs(run_dir, config, features_dir, model, load_tagger(features_dir), store, image_size, held,
                     calibration, texts, labels, [recipe_words(r) for r in test])


# ------------------------------------------------------------------ graphs
def export_onnx_variants(run: RunInputs, out: Path, precisions: list[str], opset: int
                         ) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """fp32 graphs (+ fp16 / int8); return the manifest's variants["onnxruntime"] entry and the int8 settings."""
    from seje_sdk.progress import progress_bar

    held = run.held
    first = {role: list(next(held.batches(role, 2)).values()) for role in ("image", "recipe", "tagger")}
    modules = {"image": run.model.image_encoder, "recipe": run.model.recipe_encoder, "tagger": run.tagger}
    if run.split:  # MiniLM's own graph, and the recipe graph on its vectors
        modules.update(split_modules(run.model.recipe_encoder))
        first.update(example_inputs(next(held.batches("recipe", 2)), torch_sentence_run(modules["sentence"])))
    entry: dict[str, dict[str, str]] = {}
    int8_settings: dict[str, Any] = {}
    steps = [(p, spec) for p in precisions for spec in graph_specs(run.split)]
    for precision, spec in progress_bar(steps, desc="ONNX graphs", unit="graph"):
        dst = out / spec.filename(precision)
        src = out / spec.filename("fp32")
        if spec == SENTENCE and precision != "fp32":
            # One fp32 MiniLM serves every precision: its rounding noise, magnified by the recipe graph's
            # sentence whitening, refused the whole int8 variant (docs/sentence-features.md).
            dst = src
            if precision == "int8":
                int8_settings[spec.role] = {"method": "none: the fp32 sentence graph", "fp32_nodes": "all"}
        elif precision == "fp32":
            export_graph(modules[spec.role], first[spec.role], spec, dst, opset)
            check_io(dst, spec)
        elif precision == "fp16":
            convert_fp16(src, dst)
        elif spec == IMAGE:
            int8_settings[spec.role] = int8_mod.quantize_image_static(src, dst, run.calibration)
        else:
            int8_settings[spec.role] = int8_mod.quantize_graph_dynamic(src, dst)
        entry.setdefault(precision, {})[spec.role] = dst.name
    return entry, int8_settings


def export_ranker(run: RunInputs, out: Path, opset: int, thresholds: Thresholds | None) -> dict[str, Any]:
    """The manifest's `ranker` entry; for `bert`, also ranker.onnx + its tokenizer (checked against PyTorch)."""
    from seje_sdk.terms import TEXTRANK_DAMPING, TEXTRANK_WINDOW

    name = str(run.store.config.get("ranker", "tfidf"))
    if name != "bert":
        return {"name": name, "textrank_window": TEXTRANK_WINDOW, "textrank_damping": TEXTRANK_DAMPING}
    from trainer.features.rankers import MAX_BERT_TOKENS, load_bert

    tokenizer, embedder = load_bert(run.store.config.get("bert_model"))
    return {**export_bert_ranker(tokenizer, embedder, out, opset, run.texts, thresholds), "max_tokens": MAX_BERT_TOKENS}


def export_bert_ranker(tokenizer: Any, embedder: Any, out: Path, opset: int, texts: list[str],
                       thresholds: Thresholds | None) -> dict[str, Any]:
    """ranker.onnx (input_ids, attention_mask -> embedding) + tables/bert/ tokenizer files; parity when thresholds."""
    from trainer.features.rankers import MAX_BERT_TOKENS

    enc = tokenizer(texts[:2] or ["salt"], padding=True, truncation=True, max_length=MAX_BERT_TOKENS, return_tensors="np")
    path = export_graph(embedder, [enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)],
                        RANKER, out / RANKER.filename(), opset)
    check_io(path, RANKER)
    int8_path = out / RANKER.filename("int8")  # the SDK's int8 precision ranks terms with this one (int8bert)
    int8_mod.quantize_graph_dynamic(path, int8_path, **int8_mod.RANKER_INT8)
    tokenizer_dir = out / "tables" / "bert"
    tokenizer.save_pretrained(str(tokenizer_dir))  # tokenizer.json + vocab.txt: what a runtime tokenizer reads
    entry: dict[str, Any] = {"name": "bert", "model": RANKER.filename(), "int8_model": int8_path.name,
                             "tokenizer": "tables/bert",
                             "hashes": {p.relative_to(out).as_posix(): sha256_file(p) for p in tokenizer_dir.rglob("*")
                                        if p.is_file()}}
    if thresholds is not None:
        import torch

        check_onnx(path)
        enc = tokenizer(texts or ["salt"], padding=True, truncation=True, max_length=MAX_BERT_TOKENS,
                        return_tensors="np")
        feeds = {k: enc[k].astype(np.int64) for k in RANKER.inputs}
        (got,) = ort_session(path).run(None, feeds)
        with torch.inference_mode():
            ref = embedder(*(torch.from_numpy(v) for v in feeds.values())).numpy()
        stats = compare(ref, got)
        if stats["cos_min"] < thresholds.fp32:
            raise ParityError(f"ranker.onnx: cosine to PyTorch {stats['cos_min']:.6f} < {thresholds.fp32} "
                              f"on {len(ref)} held-out texts (max abs diff {stats['max_abs']:.2e})")
        (got8,) = ort_session(int8_path).run(None, feeds)
        entry["parity"] = {"n_texts": len(ref), **stats, "int8": compare(ref, got8)}
    return entry


def verify_bundle(run: RunInputs, folder: Path, variants: dict[str, Any], max_batch: int, batch_size: int,
                  thresholds: Thresholds, reference: dict[str, np.ndarray], strict: bool = False) -> dict[str, Any]:
    """onnx.checker on every ONNX file, then parity of every variant against PyTorch's `reference` outputs.

    Raises ParityError when the fp32 ONNX graphs fail (any variant with `strict`); other failing
    variants come back in the report's `refused`.
    """
    for onnx_file in sorted(folder.glob("*.onnx")):
        check_onnx(onnx_file)
    candidates = {}
    for precision, roles in variants["onnxruntime"].items():
        runner = onnx_runner({role: folder / rel for role, rel in roles.items()})
        candidates[f"onnxruntime/{precision}"] = (precision, run_all(runner, run.held, batch_size))
    engines = variants.get("tensorrt", {})
    for precision in ("fp32", "fp16"):
        if isinstance(engines.get(precision), dict):
            runner = engine_runner({r: folder / rel for r, rel in engines[precision].items()},
                                   engines["tensorrt_version"], engines["compute_capability"], max_batch)
            candidates[f"tensorrt/{precision}"] = (precision, run_all(runner, run.held, min(batch_size, max_batch)))
    from trainer.references import reference_metrics

    optional = () if strict else [name for name in candidates if name != REQUIRED_VARIANT]
    report = verify_parity(reference, candidates, thresholds, optional)
    refs = reference_metrics([run.labels])
    report["references"] = refs
    report["table"] += "".join(_reference_row(name.replace("_", " "), row) for name, row in refs.items())
    return report


def _reference_row(name: str, row: dict[str, dict[str, float]]) -> str:
    """A parity-table row for chance or the category oracle (R@1, R@10, MedR both ways)."""
    both = {m: f"{row['image_to_recipe'][m]:.1f} / {row['recipe_to_image'][m]:.1f}" for m in ("r1", "r10", "medr")}
    return f"\n| {name} | | | | | | | {both['r1']} | | | {both['r10']} | {both['medr']} | |"


def drop_refused(folder: Path, variants: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    """Delete refused variants' files and manifest entries; return the manifest's `refused` record (with numbers)."""
    record = {}
    for name, reasons in parity["refused"].items():
        backend, precision = name.split("/")
        for rel in variants[backend].pop(precision).values():
            if not any(rel in kept.values() for kept in variants[backend].values() if isinstance(kept, dict)):
                (folder / rel).unlink(missing_ok=True)  # a file that a kept variant shares (MiniLM's) stays
        numbers = parity["variants"][name]
        record[name] = {"reasons": reasons, "n_items": parity["n_items"],
                        **{k: numbers[k] for k in ("retrieval", "r1_interval", "category_flip_rate", "image", "recipe")
                           if k in numbers}}
    return record


def near_duplicates(run: RunInputs, reference: dict[str, np.ndarray]) -> dict[str, Any]:
    """Share of the held-out test items whose vector nearly duplicates another's; printed as a warning when high."""
    from trainer.references import near_duplicate_report, near_duplicate_warnings

    report = near_duplicate_report(reference["image"], reference["recipe"], run.held_words, run.store.vocab)
    for line in near_duplicate_warnings(report, "held-out test"):
        print(f"seje-export: {line}")
    return report


# ------------------------------------------------------------------ manifest
def build_manifest(run: RunInputs, folder: Path, variants: dict[str, Any], table_hashes: dict[str, str],
                   ranker: dict[str, Any], env: Any, parity: dict[str, Any] | None, opset: int, max_batch: int
                   ) -> dict[str, Any]:
    """manifest.json content: everything the SDK needs to load, check and describe the bundle."""
    import seje_sdk
    from seje_sdk.image import ImageSpec

    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != "manifest.json"}
    onnx_hashes = {k: v for k, v in files.items() if k.endswith(".onnx")}
    spec = ImageSpec.for_size(run.image_size)
    limits = run.limits()
    return {
        "schema_version": BUNDLE_SCHEMA,
        "seje_version": seje_sdk.__version__,
        "fingerprint": fingerprint({**onnx_hashes, **table_hashes}),
        "embedding_dim": int(run.model.embed_dim),
        "image": {"size": spec.size, "resize": spec.resize, "mean": list(spec.mean), "std": list(spec.std)},
        "text": {**{k: limits[k] for k in ("max_sentences", "max_tokens", "max_ingredient_tokens", "word_dim")},
                 "title_terms": bool(run.store.config.get("title_terms", False)),
                 "sentence_encoder": sentence_encoder_entry(run.store, limits, run.split)},
        "ranker": ranker,
        "category_names": list(run.store.category_names),
        "files": files,
        "variants": variants,
        "max_batch": max_batch,
        "opset": opset,
        "source": {"run_dir": str(run.run_dir), "checkpoint": "best", "features_dir": str(run.features_dir),
                   "config": run.config},
        "export_env": export_environment(env),
        "parity": parity,
        "verified": parity is not None,
    }


def fingerprint(hashes: dict[str, str]) -> str:
    """The bundle fingerprint of graphs and tables (tokenizer included): the SDK recomputes it on load."""
    return bundle_fingerprint(hashes)


def export_environment(env: Any) -> dict[str, Any]:
    """Library versions and the GPU (None without one) the bundle was made with."""
    import onnx
    import onnxruntime
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "cuda": torch.version.cuda if env.available else None, **env.as_manifest()}


def default_timing_cache(env: Any) -> Path:
    """Per-GPU, per-TensorRT timing cache under ~/.cache/seje (reused across exports)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seje"
    return root / f"trt_timing.sm{str(env.compute_capability).replace('.', '')}.trt{env.tensorrt}.cache"
