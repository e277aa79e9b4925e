"""The summary table printed at the end of `seje-train features`."""
from __future__ import annotations

from typing import Any


def _pct(x: Any) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f}%"


def _prf(d: dict) -> str:
    if not d:
        return "n/a"
    exact = f"  lines exact {_pct(d['line_exact'])}" if "line_exact" in d else ""
    return f"P {_pct(d.get('precision'))}  R {_pct(d.get('recall'))}  F1 {_pct(d.get('f1'))}{exact}"


def summary_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(quantity, value) rows of the Phase 1 metrics."""
    w2v, tag, clf, probes, rk = m["word2vec"], m.get("tagger", {}), m["classifier"], m["probes"], m["rankers"]
    rows = [
        ("recipes train/val/test", "/".join(str(m["recipes"][p]) for p in ("train", "val", "test"))),
        ("records skipped (--skip-bad)", str(m.get("skipped_records", {}).get("total", 0))),
        ("categories", f"{m['categories']['classes']} ({m['categories']['source']})"),
        ("word2vec vocab / dim", f"{w2v['vocab']} / {w2v['dim']}  ({w2v['entities']} ingredient entities)"),
    ]
    rows += [(f"  neighbours of {w}", ", ".join(n)) for w, n in w2v["neighbours"].items()]
    rows += [
        ("lexicon actions / utensils", f"{m['lexicon']['actions']} / {m['lexicon']['utensils']}"),
        ("  actions", ", ".join(m["lexicon"]["top_actions"])),
        ("  utensils", ", ".join(m["lexicon"]["top_utensils"])),
        (f"tagger (val, all {tag.get('lines', 0)} lines)", _prf(tag.get("tagger", {}))),
        ("contextless lookup (val, same lines)", _prf(tag.get("dictionary", {}))),
        (f"term feature ({m['term_features']['ranker']})", f"{m['term_features']['recipes_without_key_terms']} recipes without key terms"),
        _sentence_row(m),
        (f"classifier (val, {clf.get('val_images', 0)} images)", f"top-1 {_pct(clf.get('val_top1'))}  top-5 {_pct(clf.get('val_top5'))}"),
        ("images skipped", str(clf.get("skipped_images", 0))),
    ]
    for name, p in probes.items():
        rows.append((f"probe: {name.replace('_', ' ')}", f"{_pct(p.get('accuracy'))} (chance {_pct(p.get('chance'))})" if p else "n/a"))
    for pair, d in rk["pairs"].items():
        rows.append((f"rankers {pair} ({rk['recipes']} recipes)", f"top-1 differs {_pct(d['top1_differs'])}, tau {d['kendall_tau']:.2f}"))
    if "note" in rk:
        rows.append(("rankers", rk["note"]))
    rows.append(("time", f"{m.get('seconds', 0)} s"))
    rows += [(f"  {k}", f"{v} s") for k, v in m.get("stage_seconds", {}).items()]
    return rows


def _sentence_row(m: dict[str, Any]) -> tuple[str, str]:
    if "minilm" in m:
        mm = m["minilm"]
        return ("MiniLM sentence vectors", f"{mm['vectors']} x {mm['dim']} ({mm['fields']} field slots; "
                                           f"{mm['embedded']} of {mm['unique_texts']} texts embedded, rest cached)")
    sk = m["skip_instructions"]
    return ("skip-instructions", f"{sk['sentences']} sentences x {sk['dim']}, loss {sk['skip_instructions_loss']}")


def format_table(rows: list[tuple[str, str]]) -> str:
    """A two-column plain-text table."""
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line, *(f"{k:<{width}}  {v}" for k, v in rows), line])


def print_summary(metrics: dict[str, Any]) -> None:
    print("SEJE Phase 1 features")
    print(format_table(summary_rows(metrics)))
