"""`seje`: embed, index and search with an exported bundle (a thin click layer over Retriever).

Exit codes (seje_sdk/cli_errors.py): 0 ok, 2 bad usage or input (click usage errors and every SejeError), 1 internal error.

Examples:
    seje info bundle/
    seje embed bundle/ photos/ --out photos.npy
    seje index build bundle/ --recipes layer1.json --images photos/ --out idx/
    seje search bundle/ --index idx/ --image photo.jpg -k 5
    seje embed-corpus bundle/ recipe1m/ --out shards/ --distributor ray --workers 4
    seje index build bundle/ --from-shards shards/ --out idx/ --max-memory 4G
    seje search bundle/ --index idx/ --recipe recipe.json --json
    seje search bundle/ --index idx/ --text "spicy chicken curry"
    seje serve bundle/ --index idx/ --port 8000
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from seje_sdk.backends.base import BACKENDS, PRECISIONS
from seje_sdk.cli_errors import SejeGroup
from seje_sdk.corpus import CorpusConfig
from seje_sdk.corpus.distributor import DISTRIBUTORS
from seje_sdk.corpus.ray_distributor import RayOptions
from seje_sdk.corpus.reader import RECIPE_SUFFIXES, image_files, read_recipes
from seje_sdk.corpus.shards import DTYPES
from seje_sdk.errors import InputError
from seje_sdk.extras import needs_extra, require_extra
from seje_sdk.indexes import INDEX_KINDS
from seje_sdk.service.config import ServiceConfig


def _load(bundle: str, backend: str, precision: str, index: str = "exact"):
    from seje_sdk.retriever import Retriever

    return Retriever.load(bundle, backend=backend, precision=precision, index=index)


def runtime_options(f):
    f = click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
                     help="model precision (the bundle must hold it: see `seje info`)")(f)
    return click.option("--backend", type=click.Choice(["auto", *BACKENDS]), default="auto", show_default=True)(f)


@click.group(cls=SejeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cross-modal food retrieval with a seje bundle: embed, build an index, search, inspect."""


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def info(bundle: str, backend: str, precision: str, as_json: bool) -> None:
    """Show what a bundle holds and what runs here."""
    r = _load(bundle, backend, precision)
    data = {**r.info(), "verified_at_export": r.bundle.manifest.get("verified"), "parity": r.bundle.manifest.get("parity")}
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    rows = [("bundle", data["bundle"]), ("fingerprint", data["fingerprint"][:16]), ("seje version", data["seje_version"]),
            ("embedding dim", data["embedding_dim"]), ("image size", data["image_size"]), ("ranker", data["ranker"]),
            ("running", f"{data['backend']} {data['precision']} on {data['device']}"),
            ("providers", ", ".join(f"{k}={'/'.join(v)}" for k, v in data["providers"].items())),
            ("verified at export", data["verified_at_export"])]
    rows += [(f"variants {name}", ", ".join(p) or (r.bundle.skipped_reason(name) or "none")) for name, p in data["variants"].items()]
    rows += [("fell back from", f) for f in data["fallbacks"]]
    click.echo(_table(["field", "value"], rows))


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="output .npy (a .json beside it lists the items)")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--skip-bad", is_flag=True, help="skip unreadable inputs (listed in the .json) instead of failing")
@runtime_options
def embed(bundle: str, inputs: tuple[str, ...], out: str, batch_size: int, skip_bad: bool, backend: str, precision: str) -> None:
    """Embed image files/folders or recipe files (.json/.jsonl) into an (n, d) float32 .npy."""
    from seje_sdk.io import save_npy, write_json
    from seje_sdk.retriever import EmbedResult

    recipe_files = [p for p in inputs if Path(p).suffix.lower() in RECIPE_SUFFIXES]
    if recipe_files and len(recipe_files) != len(inputs):
        raise click.UsageError("give either image files/folders or recipe .json/.jsonl files, not both")
    r = _load(bundle, backend, precision)
    on_error = "skip" if skip_bad else "raise"
    if recipe_files:
        items = [rec for p in recipe_files for rec in read_recipes(p)]
        labels = [str(rec.get("id", i)) for i, rec in enumerate(items)]
        res = r.embed_recipes(items, batch_size, show_progress=True, on_error=on_error)
    else:
        items = image_files(list(inputs))
        if not items:
            raise InputError(f"no image files found in {', '.join(inputs)}")
        labels = [str(p) for p in items]
        res = r.embed_images(items, batch_size, show_progress=True, on_error=on_error)
    if not isinstance(res, EmbedResult):
        res = EmbedResult(res, list(range(len(res))))
    if len(res.vectors) == 0:
        raise InputError(f"nothing to write: {', '.join(inputs)} gave no recipes or readable images "
                         f"({len(res.skipped)} skipped); {out} was not written")
    save_npy(out, res.vectors)
    write_json(Path(out).with_suffix(".json"), {"items": [labels[p] for p in res.positions],
                                                "skipped": [{"position": p, "item": labels[p], "reason": m} for p, m in res.skipped]})
    click.echo(f"wrote {out}: {res.vectors.shape[0]} x {res.vectors.shape[1]} ({len(res.skipped)} skipped)")


@main.command("embed-corpus")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="shard folder (rerun the same command to resume)")
@click.option("--distributor", type=click.Choice(list(DISTRIBUTORS)), default=CorpusConfig.distributor, show_default=True)
@click.option("--modality", type=click.Choice(["recipe", "image"]), default=None, help="what to embed (default: what SOURCE holds; image = a Recipe1M folder's photos)")
@click.option("--shard-size", default=CorpusConfig.shard_size, show_default=True, type=click.IntRange(min=1), help="items per shard")
@click.option("--dtype", type=click.Choice(DTYPES), default=CorpusConfig.dtype, show_default=True)
@click.option("--batch-size", default=CorpusConfig.batch_size, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=RayOptions.workers, show_default=True, type=click.IntRange(min=1), help="ray: actors, one bundle load each")
@click.option("--threads-per-worker", default=RayOptions.threads_per_worker, show_default=True, type=click.IntRange(min=1),
              help="ray: CPUs and onnxruntime threads per actor")
@click.option("--gpus-per-worker", default=RayOptions.gpus_per_worker, type=click.FloatRange(min=0),
              help="ray: GPUs per actor (fractions share a GPU) [default: 1 per actor when the cluster has GPUs, shared if fewer]")
@click.option("--wave-items", default=RayOptions.wave_items, show_default=True, type=click.IntRange(min=1),
              help="ray: items handed to Ray at once (bounds driver and object-store memory)")
@click.option("--ray-address", default=None, help="ray: join this cluster (e.g. auto, ray://head:10001); default starts a local Ray")
@click.option("--skip-bad", is_flag=True, help="skip bad items (listed in reports/part-NNNNN.json) instead of stopping")
@runtime_options
@needs_extra("seje embed-corpus", "corpus")
def embed_corpus(bundle, source, out, distributor, modality, shard_size, dtype, batch_size, workers, threads_per_worker,
                 gpus_per_worker, wave_items, ray_address, skip_bad, backend, precision) -> None:
    """Embed a corpus (Recipe1M folder, image folder, .jsonl/.parquet list) into resumable shards under --out."""
    from seje_sdk.corpus import embed_corpus as run

    ray = RayOptions(workers=workers, threads_per_worker=threads_per_worker, address=ray_address,
                     gpus_per_worker=gpus_per_worker, wave_items=wave_items)
    config = CorpusConfig(distributor=distributor, shard_size=shard_size, dtype=dtype, modality=modality, skip_bad=skip_bad,
                          batch_size=batch_size, backend=backend, precision=precision, ray=ray)
    s = run(bundle, source, out, config)
    click.echo(_table(["shards", "written now", "already complete", "embedded", "skipped", "seconds", "items/s"],
                      [(s.shards, s.written, s.resumed, s.embedded, s.skipped, f"{s.seconds:.1f}", f"{s.items_per_s:.1f}")]))
    click.echo(f"wrote {out}" + (f" (skipped items are listed in {out}/reports/)" if s.skipped else ""))


@main.group()
def index() -> None:
    """Build search indexes."""


@index.command("build")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--recipes", "recipe_files", multiple=True, type=click.Path(exists=True, dir_okay=False), help="layer1.json or recipes.jsonl")
@click.option("--images", "image_dirs", multiple=True, type=click.Path(exists=True), help="image folder or file (ids = paths)")
@click.option("--from-shards", "shard_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="embed-corpus output folder(s), one per modality: index them without re-embedding")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--kind", type=click.Choice(INDEX_KINDS), default=None,
              help="[default: recommended by collection size (--from-shards; printed otherwise), or by --max-memory]")
@click.option("--max-memory", default=None, help="with --from-shards: choose the kind that fits this much RAM (e.g. 4G)")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--skip-bad", is_flag=True, help="skip unreadable items instead of failing")
@runtime_options
def index_build(bundle, recipe_files, image_dirs, shard_dirs, out, kind, max_memory, batch_size, skip_bad, backend, precision) -> None:
    """Embed recipes (searched by images) and/or images (searched by recipes) into an index folder, or index shards."""
    if shard_dirs:
        if recipe_files or image_dirs:
            raise click.UsageError("give --from-shards, or --recipes/--images, not both")
        return _index_from_shards(bundle, shard_dirs, out, kind, max_memory)
    if max_memory:
        raise click.UsageError("--max-memory applies to --from-shards")
    if not recipe_files and not image_dirs:
        raise click.UsageError("give --recipes FILE and/or --images DIR (or --from-shards DIR)")
    from seje_sdk.corpus.index_from_files import build_from_files

    report = build_from_files(_load(bundle, backend, precision, index=kind or "exact"), out, recipe_files, image_dirs,
                              batch_size, skip_bad, show_progress=True)
    click.echo(_table(["indexed", "items", "skipped"], report.counts))
    click.echo(f"wrote {out} ({report.kind}){'' if kind else report.advice()}")


def _index_from_shards(bundle: str, shard_dirs: tuple[str, ...], out: str, kind: str | None, max_memory: str | None) -> None:
    """`index build --from-shards`: print the expected trade-off of each kind, build the chosen one."""
    require_extra("seje index build --from-shards", "corpus", modules=("pyarrow",))
    from seje_sdk.corpus.index_from_shards import build_from_shards
    from seje_sdk.corpus.index_plan import format_size, parse_size

    report = build_from_shards(bundle, list(shard_dirs), out, kind, parse_size(max_memory) if max_memory else None)
    click.echo(_table(["kind", "memory", "recall@10", "queries/s", "measured at", "note"], report.plan.table()))
    click.echo(f"chose {report.plan.kind}: {report.plan.reason} (recall and queries/s as measured by seje-bench on 2 CPU cores)")
    click.echo(_table(["indexed", "items"], sorted(report.counts.items())))
    click.echo(f"wrote {out} ({report.plan.kind}) in {report.seconds:.1f} s, peak RSS {format_size(report.peak_rss_bytes)}")


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--index", "index_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--image", "image", type=click.Path(dir_okay=False), help="query photo: finds recipes")
@click.option("--recipe", "recipe", type=click.Path(dir_okay=False), help="query recipe JSON: finds images")
@click.option("--text", "text", help='typed words, e.g. --text "chicken curry": finds images')
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@runtime_options
def search(bundle, index_dir, image, recipe, text, k, as_json, backend, precision) -> None:
    """Top-k recipes for a photo (--image), or top-k photos for a recipe (--recipe) or typed words (--text)."""
    if sum(x is not None for x in (image, recipe, text)) != 1:
        raise click.UsageError('give exactly one of --image FILE, --recipe FILE.json or --text "words"')
    from seje_sdk.catalog import hit_title, read_catalog
    from seje_sdk.text_query import word_notes

    queries = [image] if image else read_recipes(recipe) if recipe else [text]
    if not queries:
        raise InputError(f"--recipe {recipe}: holds no recipe to search with (give a recipe object or a list of them)")
    r = _load(bundle, backend, precision)
    r.load_index(index_dir)
    target, option = ("recipe", "--image") if image else ("image", "--recipe" if recipe else "--text")
    if not r.info()["index"][target]:
        build = (f"`seje index build {bundle} --recipes RECIPES_JSON --out {index_dir}`" if image
                 else f"`seje index build {bundle} --images IMAGE_DIR --out {index_dir}`")
        raise InputError(f"index {index_dir} holds no {target}s, so a {option} query has nothing to search; "
                         f"add them with {build} "
                         "(give --recipes and --images together to index both)")
    hits = (r.search(images=queries, k=k) if image else r.search(recipes=queries, k=k) if recipe else
            r.search(text=text, k=k))
    catalog = read_catalog(index_dir)
    named = [[(i, s, hit_title(catalog, target, i)) for i, s in q] for q in hits]
    if as_json:
        rows = [[{"id": i, "score": s, **({"title": t} if t else {})} for i, s, t in q] for q in named]
        out = {"text": text, "unknown_words": hits.unknown_words[0], "substitutes": hits.substitutes[0], "hits": rows[0]} if text else rows
        click.echo(json.dumps(out, indent=2))
        return
    for line in word_notes(hits.substitutes[0], hits.unknown_words[0]) if text is not None else []:
        click.echo(line)
    for q, results in enumerate(named):
        if len(named) > 1:
            click.echo(f"query {q}")
        click.echo(_table(["rank", "id", "score", "title"], [(n + 1, i, f"{s:.4f}", t or "-") for n, (i, s, t) in enumerate(results)]))


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(w for w in (value or "").replace(",", " ").split() if w)


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False), help="index folder (seje index build); embed-only without")
@click.option("--host", default=ServiceConfig.host, show_default=True, help="address to bind (127.0.0.1: this machine only)")
@click.option("--port", default=ServiceConfig.port, show_default=True, type=click.IntRange(0, 65535))
@click.option("--batch-items", default=ServiceConfig.batch_items, show_default=True, type=click.IntRange(min=1),
              help="items encoded together at most (the batching window)")
@click.option("--max-wait-ms", default=ServiceConfig.max_wait_ms, show_default=True, type=click.FloatRange(min=0), help="how long a batch waits for more items")
@click.option("--max-k", default=ServiceConfig.max_k, show_default=True, type=click.IntRange(min=1))
@click.option("--max-upload-mb", default=ServiceConfig.max_upload_bytes / 2**20, show_default=True, type=click.FloatRange(min=0.001),
              help="per request body, counted as it streams (chunked included)")
@click.option("--max-pixels", default=ServiceConfig.max_pixels, show_default=True, type=click.IntRange(min=1), help="per image (decompression-bomb guard)")
@click.option("--max-request-pixels", default=ServiceConfig.max_request_pixels, show_default=True, type=click.IntRange(min=1),
              help="all images of one request together, checked before decoding")
@click.option("--header-timeout", default=ServiceConfig.header_timeout_s, show_default=True, type=click.FloatRange(min=0.1), help="seconds")
@click.option("--body-timeout", default=ServiceConfig.body_timeout_s, show_default=True, type=click.FloatRange(min=0.1), help="seconds")
@click.option("--keep-alive", default=ServiceConfig.keep_alive_s, show_default=True, type=click.FloatRange(min=1), help="idle seconds")
@click.option("--max-connections", default=ServiceConfig.max_connections, show_default=True, type=click.IntRange(min=1))
@click.option("--grace", default=ServiceConfig.grace_s, show_default=True, type=click.FloatRange(min=0),
              help="SIGTERM: seconds in-flight requests may take before the process exits 0")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False), help="keys, one per line: every route but /health, /ready needs one")
@click.option("--public-metrics", is_flag=True, help="/metrics without a key")
@click.option("--allowed-hosts", default=None, help="Host header values to serve (comma-separated) [default: the bound host; + localhost, 127.0.0.1 on loopback]")
@click.option("--cors-origins", default=None, help="browser origins allowed to call the API (comma-separated)")
@click.option("--no-docs", is_flag=True, help="turn off /docs and /openapi.json")
@click.option("--live-dir", type=click.Path(file_okay=False), default=None, help="write log and index versions [default: INDEX.live]")
@click.option("--compact-every", default=ServiceConfig.compact_every, show_default=True, type=click.IntRange(min=1),
              help="writes between compactions into a new index version")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
@runtime_options
def serve(bundle, index_dir, host, port, batch_items, max_wait_ms, max_k, max_upload_mb, max_pixels, max_request_pixels,
          header_timeout, body_timeout, keep_alive, max_connections, grace, api_key_file, public_metrics,
          allowed_hosts, cors_origins, no_docs, live_dir, compact_every, log_level, backend, precision) -> None:
    """Serve search, embedding and live updates over HTTP (FastAPI on uvicorn) with a search page at /; needs the `serve` extra."""
    require_extra("seje serve", "serve")
    from seje_sdk.service.config import read_api_keys
    from seje_sdk.service.server import run_service
    config = ServiceConfig(bundle=bundle, index=index_dir, backend=backend, precision=precision, host=host, port=port,
                           batch_items=batch_items, max_wait_ms=max_wait_ms, max_k=max_k,
                           max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels,
                           max_request_pixels=max_request_pixels, header_timeout_s=header_timeout,
                           body_timeout_s=body_timeout, keep_alive_s=keep_alive, max_connections=max_connections, grace_s=grace,
                           api_keys=read_api_keys(api_key_file) if api_key_file else (), public_metrics=public_metrics,
                           allowed_hosts=_words(allowed_hosts) or None, cors_origins=_words(cors_origins), docs=not no_docs,
                           live_dir=live_dir, compact_every=compact_every)
    docs = "/docs (API), " if config.docs else ""
    click.echo(f"seje serve: http://{host}:{port}/ (page), {docs}/metrics; loading {bundle}", err=True)
    run_service(config, log_level=log_level)


def _table(header: list[str], rows: list[tuple]) -> str:
    """A plain aligned text table."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths)] + lines[1:])
