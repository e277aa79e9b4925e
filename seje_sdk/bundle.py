"""Load and verify an exported bundle (BUNDLE_DIR, schema `seje-bundle/1`).

A bundle is trusted only after every file listed in its manifest is present and matches its
sha256, and the manifest's fingerprint is the one those sha256s give (`bundle_fingerprint`): a
tampered, truncated or swapped file, or an edited manifest, is refused with the file's name and
the command that makes a good bundle, before any runtime sees it. The SDK reads everything it
needs from here (model files per backend/precision, image spec, text limits, tables), so the
rest of the SDK never parses the manifest itself.

Example:
    >>> b = Bundle.load("bundle/")                       # doctest: +SKIP
    >>> b.model_path("onnxruntime", "fp32", "image")      # doctest: +SKIP
    PosixPath('bundle/image_encoder.onnx')
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from seje_sdk.errors import BundleError, tell_apart
from seje_sdk.image import ImageSpec
from seje_sdk.io import sha256_file
from seje_sdk.version import __version__

BUNDLE_SCHEMA = "seje-bundle/1"
MANIFEST = "manifest.json"
ROLES = ("image", "recipe", "tagger")
INDEX_SCHEMAS = ("seje-index/", "seje-retriever-index/")  # folders people pass as a bundle by mistake
REQUIRED_KEYS = ("schema_version", "fingerprint", "embedding_dim", "image", "text", "files", "variants")
# TensorRT engines are compiled per GPU from the ONNX graphs: they do not change what the bundle
# computes, so they are checked by sha256 but left out of the fingerprint indexes are tied to.
NOT_FINGERPRINTED = ("engines/",)


def bundle_fingerprint(files: dict[str, str]) -> str:
    """sha256 over the sorted (relpath, sha256) pairs of the bundle's files, engines excepted."""
    h = hashlib.sha256()
    for rel, digest in sorted(files.items()):
        if not rel.startswith(NOT_FINGERPRINTED):
            h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def export_hint(path: Path) -> str:
    """How to get a bundle where `path` is not one. A training run is the export's input; a folder that
    holds anything is never its output (the export replaces its --out folder whole)."""
    if (path / "config.json").is_file() and (path / "checkpoints").is_dir():
        return f"{path} is a training run (RUN_DIR), not a bundle: export one with `seje-export {path} --out BUNDLE_DIR`"
    free = not path.exists() or (path.is_dir() and not any(path.iterdir()))
    out = str(path) if free else "BUNDLE_DIR"
    return f"export one with `seje-export RUN_DIR --out {out}`"


def reexport_hint(path: Path, manifest: dict[str, Any] | None = None) -> str:
    """What to run to get a good bundle at `path`: the export command, with the run it came from when known."""
    run_dir = ((manifest or {}).get("source") or {}).get("run_dir") or "RUN_DIR"
    return f"re-export it with `seje-export {run_dir} --out {path}`"


@dataclass(frozen=True)
class TextLimits:
    """Padding limits the recipe encoder was trained with."""

    max_sentences: int = 20
    max_tokens: int = 20
    max_ingredient_tokens: int = 20


@dataclass(frozen=True)
class Bundle:
    """A verified bundle folder plus its parsed manifest."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> "Bundle":
        """Read manifest.json, check the schema and (verify=True) every file's sha256.

        >>> Bundle.load("bundle/").fingerprint[:12]   # doctest: +SKIP
        """
        path = Path(path)
        if not path.is_dir():
            raise BundleError(f"bundle {path}: not a folder; {export_hint(path)}")
        manifest = read_manifest(path)
        bundle = cls(path, manifest)
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Raise BundleError naming the first file that is missing or whose sha256 differs, or an
        edited manifest whose fingerprint is not the one its files give."""
        files, hint = self.manifest["files"], reexport_hint(self.path, self.manifest)
        for rel in self._referenced_files():
            if rel not in files:
                raise BundleError(f"bundle {self.path}: {MANIFEST} names {rel} in a variant but lists no sha256 "
                                  f"for it; {hint}")
        for rel, digest in sorted(files.items()):
            target = _inside(self.path, rel)
            if not target.is_file():
                raise BundleError(f"bundle {self.path}: file {rel} is missing; restore it or {hint}")
            actual = sha256_file(target)
            if actual != digest:
                got, want = tell_apart(actual, str(digest))
                raise BundleError(
                    f"bundle {self.path}: file {rel} was modified or corrupted "
                    f"(sha256 {got} != {want} in {MANIFEST}); restore it or {hint}"
                )
        for rel in sorted(files):
            self.file(rel, "file")  # ONNX models: their external data too
        self._check_symlinks()
        derived = bundle_fingerprint(files)
        if derived != self.fingerprint:
            stated, actual = tell_apart(self.fingerprint, derived)
            raise BundleError(
                f"bundle {self.path}: {MANIFEST} states fingerprint {stated} but its files give {actual}: "
                f"{MANIFEST} was edited; restore it or {hint}"
            )

    # --- what the manifest says -------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    @property
    def embedding_dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    @property
    def seje_version(self) -> str:
        return str(self.manifest.get("seje_version", "unknown"))

    @cached_property
    def image_spec(self) -> ImageSpec:
        spec = self.manifest["image"]
        try:
            return ImageSpec(
                size=int(spec["size"]),
                resize=int(spec["resize"]),
                mean=tuple(float(x) for x in spec["mean"]),
                std=tuple(float(x) for x in spec["std"]),
                jpeg_draft=bool(spec.get("jpeg_draft", True)),  # reduced-scale JPEG decode (docs/runtimes.md)
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"bundle {self.path}: {MANIFEST} 'image' must have size, resize, mean, std ({e})") from e

    @cached_property
    def text_limits(self) -> TextLimits:
        text = self.manifest["text"]
        known = {k: int(v) for k, v in text.items() if k in TextLimits.__dataclass_fields__}
        return TextLimits(**known)

    @property
    def title_terms(self) -> bool:
        """Whether the model reads the title (its words are key terms); bundles made before the option do not."""
        return bool(self.manifest["text"].get("title_terms", False))

    @property
    def text_encoder(self) -> dict[str, Any] | None:
        """The manifest's `text_encoder` entry (model file, max_tokens), or None: typed text goes through the recipe model."""
        entry = self.manifest.get("text_encoder")
        return entry if isinstance(entry, dict) and entry.get("model") else None

    @property
    def ranker(self) -> str:
        return str(self.manifest.get("ranker", {}).get("name", "tfidf"))

    @property
    def category_names(self) -> list[str]:
        return list(self.manifest.get("category_names", []))

    @property
    def tables_dir(self) -> Path:
        return _inside(self.path, "tables", "tables folder")

    def precisions(self, backend: str) -> list[str]:
        """Precisions the bundle holds for `backend` ([] when absent or skipped at export)."""
        variants = self.manifest["variants"].get(backend) or {}
        return [p for p, v in variants.items() if isinstance(v, dict) and "image" in v]

    def skipped_reason(self, backend: str) -> str | None:
        """Why export skipped a backend (e.g. no GPU), or None."""
        variants = self.manifest["variants"].get(backend)
        if variants is None:
            return "not in this bundle"
        return variants.get("skipped") if isinstance(variants, dict) else None

    def refusal(self, runtime: str, precision: str) -> str | None:
        """Why export's parity gate refused this variant and left it out (None when it did not)."""
        entry = (self.manifest.get("refused") or {}).get(f"{runtime}/{precision}")
        if not entry:
            return None
        return f"refused by the export's parity check on {entry.get('n_items', '?')} test pairs: " + "; ".join(entry["reasons"])

    def lacks(self, runtime: str, precision: str) -> str | None:
        """Why the bundle cannot serve `precision` for `runtime` ("onnxruntime" or "tensorrt"), or None when it holds it.

        The one wording of "the bundle has no such precision", for the SDK, the CLI and the benchmarks.
        """
        have = self.precisions(runtime)
        if precision in have:
            return None
        refused = self.refusal(runtime, precision)
        if refused:
            return f"bundle {self.path}: no {runtime} {precision} variant ({refused}; it has {have or 'none'})"
        why = self.skipped_reason(runtime)
        if why:
            return f"bundle {self.path}: no {runtime} {precision} variant (skipped at export: {why})"
        flags = (["--engine tensorrt"] if runtime == "tensorrt" else []) + ([f"--{precision}"] if precision in ("fp16", "int8") else [])
        hint = f"; export it with seje-export {' '.join(flags)}" if flags else ""
        return f"bundle {self.path}: no {runtime} {precision} variant (it has {have or 'none'}){hint}"

    def variant(self, runtime: str, precision: str) -> dict[str, Any]:
        """The manifest entry {role: relpath, ...} of one runtime/precision (BundleError when the bundle lacks it)."""
        missing = self.lacks(runtime, precision)
        if missing:
            raise BundleError(missing)
        return self.manifest["variants"][runtime][precision]

    def model_path(self, backend: str, precision: str, role: str) -> Path:
        """File of one encoder ('image', 'recipe', 'tagger') for a backend/precision."""
        variant = self.variant(backend, precision)
        if role not in variant:
            raise BundleError(f"bundle {self.path}: {backend} {precision} variant has no '{role}' model")
        return self.file(variant[role], f"{backend} {precision} {role} model")

    def file(self, rel: str, entry: str) -> Path:
        """`rel` (a path the manifest gives in `entry`) inside the bundle, or BundleError naming the entry.

        For an ONNX model every external-data file it names must lie inside the bundle as well
        (checked here too, so a bundle loaded with verify=False is held to it).
        """
        target = _inside(self.path, rel, entry)
        if str(rel).endswith(".onnx") and target.is_file():
            self._check_external_data(rel, target)
        return target

    def _check_external_data(self, rel: str, model: Path) -> None:
        from seje_sdk.onnx_external import WireError, external_data_locations

        try:
            locations = external_data_locations(model)
        except (WireError, OSError) as e:
            raise BundleError(f"bundle {self.path}: {rel} is not a readable ONNX model ({e}); "
                              f"{reexport_hint(self.path, self.manifest)}") from e
        for tensor, location in locations:
            _inside(self.path, (Path(rel).parent / location).as_posix(), f"{rel}: external data of tensor {tensor!r}")

    def _check_symlinks(self) -> None:
        """A link inside the bundle that leads out of it is refused, listed in the manifest or not."""
        for link in sorted(p for p in self.path.rglob("*") if p.is_symlink()):
            _inside(self.path, link.relative_to(self.path).as_posix(), "symbolic link")

    def _referenced_files(self) -> list[str]:
        out = []
        for variants in self.manifest["variants"].values():
            for entry in (variants or {}).values() if isinstance(variants, dict) else ():
                if isinstance(entry, dict):
                    out += [v for k, v in entry.items() if k in ROLES and isinstance(v, str)]
        return out


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse manifest.json and check its schema version and required keys."""
    mf = path / MANIFEST
    if not mf.is_file():
        raise BundleError(f"bundle {path}: {MANIFEST} is missing: not a bundle folder; {export_hint(path)}")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"bundle {path}: {MANIFEST} is not valid JSON ({e}); restore it or {reexport_hint(path)}") from e
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle {path}: {MANIFEST} must hold a JSON object; {reexport_hint(path)}")
    if str(manifest.get("schema_version", "")).startswith(INDEX_SCHEMAS):
        raise BundleError(f"{path} is an index folder (made by seje index build), not a bundle: pass the bundle "
                          f"folder it was built with (fingerprint {str(manifest.get('fingerprint'))[:16]}...) "
                          "and give this folder as --index")
    schema = manifest.get("schema_version")
    if schema != BUNDLE_SCHEMA:
        made_by = manifest.get("seje_version")
        other = f", or read it with seje {made_by}, which wrote it" if made_by not in (None, __version__) else ""
        raise BundleError(
            f"bundle {path}: {MANIFEST} has schema {schema!r}, but this seje SDK ({__version__}) reads "
            f"{BUNDLE_SCHEMA!r} only; {reexport_hint(path, manifest)} (seje {__version__}){other}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"bundle {path}: {MANIFEST} lacks {', '.join(missing)}; {reexport_hint(path, manifest)}")
    return manifest


def _inside(root: Path, rel: str, entry: str = "manifest path") -> Path:
    """`root/rel` with symlinks resolved, refusing paths that escape the bundle (a manifest is input too)."""
    target = (root / rel).resolve()
    if root.resolve() not in target.parents:
        raise BundleError(f"bundle {root}: {entry} {rel!r} points outside the bundle (to {target}); "
                          "a bundle may only name its own files, so it was not loaded")
    return target
