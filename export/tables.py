"""Precomputed tables copied from FEATURES_DIR into BUNDLE_DIR/tables (no gensim at run time).

They stay outside the ONNX graphs, so a Recipe1M-sized vocabulary never approaches the 2 GB
protobuf limit, and the SDK's `seje_sdk.terms.TermTables` rebuilds the term feature from them
exactly as training did. We check their shapes agree before copying: a bundle whose Word2vec
rows do not line up with its vocabulary would embed every recipe wrongly and silently.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from seje_sdk.errors import DataError
from seje_sdk.io import sha256_file
from seje_sdk.subwords import SubwordTable
from seje_sdk.text import Vocab

TABLE_FILES = (
    "vocab.json", "word2vec.npy", "idf.npy", "category_vectors.npy", "category_names.json",
    "entities.json", "lexicon.json",
)
OPTIONAL_FILES = ("subwords.npy", "subwords.json")  # FastText n-gram table (word_vectors "fasttext")


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); rebuild the features with `seje-train features --data DATA_DIR --out FEATURES_DIR`") from e


def validate_tables(features_dir: str | Path) -> dict[str, int]:
    """Check the tables exist and agree in shape; return {vocab_size, word_dim, num_categories}."""
    folder = Path(features_dir)
    missing = [name for name in TABLE_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"FEATURES_DIR {folder}: missing {', '.join(missing)}; rebuild with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    try:
        vocab = Vocab.load(folder / "vocab.json")
    except (ValueError, IndexError, TypeError) as e:
        raise DataError(f"{folder / 'vocab.json'}: not a valid vocabulary ({e})") from e
    vectors = np.load(folder / "word2vec.npy", mmap_mode="r")
    idf = np.load(folder / "idf.npy", mmap_mode="r")
    category_vectors = np.load(folder / "category_vectors.npy", mmap_mode="r")
    names = _load_json(folder / "category_names.json")
    lexicon = _load_json(folder / "lexicon.json")
    checks = [
        (vectors.ndim == 2 and vectors.shape[0] == len(vocab), "word2vec.npy",
         f"shape {vectors.shape}, expected ({len(vocab)}, dim) rows aligned with vocab.json"),
        (idf.shape == (len(vocab),), "idf.npy", f"shape {idf.shape}, expected ({len(vocab)},)"),
        (category_vectors.ndim == 2 and category_vectors.shape == (len(names), vectors.shape[-1]),
         "category_vectors.npy", f"shape {category_vectors.shape}, expected ({len(names)}, {vectors.shape[-1]})"),
        (isinstance(lexicon, dict) and {"actions", "utensils"} <= set(lexicon), "lexicon.json",
         "expected an object with 'actions' and 'utensils'"),
        (isinstance(_load_json(folder / "entities.json"), list), "entities.json", "expected a list of entity tokens"),
    ]
    subwords = SubwordTable.load(folder)  # refuses a table whose shape disagrees with its settings
    if subwords is not None:
        checks.append((subwords.vectors.shape[1] == vectors.shape[1], "subwords.npy",
                       f"width {subwords.vectors.shape[1]}, expected the word vectors' {vectors.shape[1]}"))
    for ok, name, detail in checks:
        if not ok:
            raise DataError(f"{folder / name}: {detail}; rebuild the features with `seje-train features --data DATA_DIR --out FEATURES_DIR`")
    return {"vocab_size": len(vocab), "word_dim": int(vectors.shape[1]), "num_categories": len(names)}


def copy_tables(features_dir: str | Path, bundle_dir: str | Path) -> dict[str, str]:
    """Validate and copy the tables to bundle_dir/tables; return {"tables/<name>": sha256}."""
    validate_tables(features_dir)
    out = Path(bundle_dir) / "tables"
    out.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in TABLE_FILES + tuple(n for n in OPTIONAL_FILES if (Path(features_dir) / n).is_file()):
        shutil.copyfile(Path(features_dir) / name, out / name)
        hashes[f"tables/{name}"] = sha256_file(out / name)
    return hashes


def category_names(features_dir: str | Path) -> list[str]:
    """Class names in category_vectors row order (0 = background)."""
    return [str(n) for n in _load_json(Path(features_dir) / "category_names.json")]
