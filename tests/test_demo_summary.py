"""The demo's last screen and CI's artefact check, on a real tiny demo folder: the session's tiny
data, run and bundle, with eval, index build and a latency run made by the demo's own commands."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.demo_check import check_demo
from benchmarks.demo_check import main as check_main
from benchmarks.demo_summary import DemoLayout, main as summary_main


@pytest.fixture(scope="module")
def demo_dir(tiny_data, tiny_run, tiny_bundle, tmp_path_factory) -> Path:
    """OUT laid out as scripts/demo.sh leaves it (stages 1-3 and export from the session chain)."""
    from benchmarks.cli import main as bench
    from seje_sdk.cli import main as seje
    from trainer.cli import main as train

    out = tmp_path_factory.mktemp("demo")
    for name, src in (("data", tiny_data), ("run", tiny_run), ("bundle", tiny_bundle)):
        shutil.copytree(src, out / name, symlinks=True)
    runner = CliRunner()
    for cli, args in ((train, ["eval", "--run", str(out / "run"), "--bags", "2", "--bag-sizes", "10,1000"]),
                      (seje, ["index", "build", str(out / "bundle"), "--recipes", str(out / "data/layer1.json"),
                             "--images", str(out / "data/images/test"), "--out", str(out / "index")]),
                      (bench, ["latency", str(out / "bundle"), "--run", str(out / "run"), "--out", str(out / "bench"),
                               "--quick", "--batch-sizes", "1", "--no-e2e", "--threads", "1"])):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def _first_test_photo(out: Path) -> Path:
    return sorted((out / "data/images/test").rglob("*.jpg"))[0]


def test_summary_shows_references_rank_runtime_ratios_and_files(demo_dir, capsys):
    query = _first_test_photo(demo_dir)
    assert summary_main([str(demo_dir), "--query", str(query)]) == 0
    text = capsys.readouterr().out
    for needed in ("| image -> recipe | SEJE (this run) |", "| image -> recipe | category-only oracle |",
                   "| recipe -> image | chance |", "Runtime: backend onnxruntime",
                   "image encoder, batch 1: onnxruntime-cpu/fp32", str(demo_dir / "bundle"), "summary.md"):
        assert needed in text, needed
    saved = json.loads((demo_dir / "summary.json").read_text())
    q = saved["query"]
    # The rank is the true one: the query's recipe sits at that place in a full search.
    layer2 = json.loads((demo_dir / "data/layer2.json").read_text())
    assert q["recipe_id"] == next(r["id"] for r in layer2 if any(i["id"] == query.name for i in r["images"]))
    assert 1 <= q["rank"] <= q["n_recipes"] and len(q["top"]) == 5
    assert (q["rank"] <= 5) == any(h["id"] == q["recipe_id"] for h in q["top"])
    assert f"rank {q['rank']} of {q['n_recipes']} recipes" in text
    # chance's MedR is (n + 1) / 2 of the bag: the table reads the reference rows, not the model's.
    bag = saved["eval_bags"]["bag_size"]
    assert f"| image -> recipe | chance | {(bag + 1) / 2:.1f} |" in text
    (demo_dir / "demo.log").write_text("... stage 7/7 ...\n" + text)


def test_summary_names_a_missing_stage_output(tmp_path, capsys):
    assert summary_main([str(tmp_path), "--query", str(tmp_path / "x.jpg")]) == 2
    assert f"{DemoLayout.under(tmp_path).eval_json}: missing" in capsys.readouterr().err


def _text_search_output(out: Path) -> str:
    """What demo.sh's typed-words step prints: its marker line, then `seje search --text`'s table."""
    from seje_sdk.cli import main as seje

    result = CliRunner().invoke(seje, ["search", str(out / "bundle"), "--index", str(out / "index"),
                                       "--text", "chicken curry", "-k", "5"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return 'Typed words: seje search ... --text "chicken curry" -k 5\n' + result.output


def test_check_passes_on_the_complete_demo_and_names_each_missing_part(demo_dir, tmp_path):
    log = demo_dir / "demo.log"
    if not log.is_file():  # the summary test writes it; run alone, make it here
        summary_main([str(demo_dir), "--query", str(_first_test_photo(demo_dir))])
        log.write_text((demo_dir / "summary.md").read_text())
    log.write_text(log.read_text() + _text_search_output(demo_dir))
    assert check_demo(demo_dir, log) == []
    assert check_main([str(demo_dir), "--log", str(log)]) == 0

    broken = tmp_path / "demo"
    shutil.copytree(demo_dir, broken, symlinks=True)
    report = json.loads((broken / "run/eval.json").read_text())
    del report["bags"][0]["references"]["category_oracle"]
    (broken / "run/eval.json").write_text(json.dumps(report))
    (broken / "bench/latency_image.png").write_bytes(b"not a png")
    onnx = next((broken / "bundle").glob("*.onnx"))
    onnx.write_bytes(onnx.read_bytes()[:-8] + b"tampered")
    (broken / "demo.log").write_text("stage 6 died\n")
    problems = "\n".join(check_demo(broken, broken / "demo.log"))
    assert "no category_oracle reference row (image_to_recipe)" in problems
    assert "latency_image.png: missing or not a PNG" in problems
    assert "bundle/index:" in problems and "never printed the rank line" in problems
    assert "(seje search --text) printed no photo hit" in problems
    assert check_main([str(broken), "--log", str(broken / "demo.log")]) == 1
