"""The Recipe1M reader on hand-written fixtures in the release layout, including broken ones."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from seje_sdk.errors import DataError
from trainer.data.classes import class_of_title, read_classes, write_classes
from trainer.cli import main as seje_train
from trainer.data.recipe1m import SkipReport, dataset_stats, iter_recipes, read_split

FIXTURES = Path(__file__).parent / "fixtures" / "recipe1m"


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the good fixture folder that a test may break."""
    return Path(shutil.copytree(FIXTURES / "good", tmp_path / "recipe1m"))


def _swap(data: Path, broken: str, target: str) -> None:
    shutil.copyfile(FIXTURES / "broken" / broken, data / target)


def test_reads_every_recipe_joined_across_files(data):
    recipes = {r.id: r for r in iter_recipes(data)}
    assert list(recipes) == ["000018c8a5", "00003a70b1", "000075604a", "00007bfd16", "000095fc1d"]  # layer1 order
    mac = recipes["000018c8a5"]
    assert mac.title == "Worlds Best Mac and Cheese" and mac.partition == "train"
    assert mac.ingredients[0] == "6 ounces penne" and mac.det_ingredients == [
        "penne",
        "cheese sauce",
        "cheddar",
        "chipotle chili powder",
    ]
    assert mac.instructions[-1] == "Bake for 20 minutes, until bubbly."
    assert mac.image_ids == ["3e233001e2.jpg"]
    assert mac.image_paths == [data / "images" / "train" / "3" / "e" / "2" / "3" / "3e233001e2.jpg"]
    assert mac.class_id == 1 and recipes["00003a70b1"].class_id == 0
    assert recipes["000075604a"].det_valid == [True, False, True]
    assert recipes["00003a70b1"].image_ids == ["7f749987f9.jpg", "aaf6b2dcd3.jpg"]  # layer2 order kept
    assert recipes["000095fc1d"].image_ids == [] and recipes["000095fc1d"].image_paths == []


def test_read_split_keeps_recipes_with_images_by_default(data):
    report = SkipReport()
    train = read_split(data, "train", report=report)
    assert [r.id for r in train] == ["000018c8a5", "000075604a"]
    assert all(p.is_file() for r in train for p in r.image_paths)
    assert report.filtered["no image (require_images)"] == 1 and report.total == 0  # the parfait: filtered, counted
    assert [r.id for r in read_split(data, "train", require_images=False)] == ["000018c8a5", "000075604a", "000095fc1d"]
    assert [r.id for r in read_split(data, "val")] == ["00007bfd16"]
    assert [r.id for r in iter_recipes(data, partitions=("test", "val"))] == ["00003a70b1", "00007bfd16"]
    assert [r.id for r in iter_recipes(data, partitions="val")] == ["00007bfd16"]  # a bare string is one partition
    with pytest.raises(DataError, match="unknown partition 'dev'"):
        read_split(data, "dev")


def test_without_classes_file_class_id_is_none(data):
    (data / "classes1M.pkl").unlink()
    assert {r.class_id for r in iter_recipes(data)} == {None}


# (broken file, file it replaces, words the error must contain, reason counted with skip_bad)
RECORD_CASES = [
    ("layer1_no_title.json", "layer1.json", ["layer1.json", "000075604a", "no title"], "missing title"),
    ("layer1_missing_id.json", "layer1.json", ["layer1.json", "record #0", "no string 'id'"], "missing id"),
    ("layer1_bad_partition.json", "layer1.json", ["layer1.json", "00007bfd16", "'training'"], "bad partition"),
    (
        "layer1_duplicate_id.json",
        "layer1.json",
        ["layer1.json", "record #5", "000018c8a5", "already seen"],
        "duplicate id",
    ),
    (
        "layer1_bad_ingredients.json",
        "layer1.json",
        ["layer1.json", "000095fc1d", "lists of {'text': str}"],
        "malformed ingredients/instructions",
    ),
    (
        "det_ingrs_misaligned.json",
        "det_ingrs.json",
        ["00003a70b1", "det_ingrs.json", "4 ingredient lines but 2"],
        "det_ingrs misaligned",
    ),
    (
        "det_ingrs_missing_entry.json",
        "det_ingrs.json",
        ["000095fc1d", "det_ingrs.json", "no entry"],
        "no det_ingrs entry",
    ),
]


@pytest.mark.parametrize("broken,target,words,reason", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_bad_record_names_file_and_record_or_is_counted(data, broken, target, words, reason, caplog):
    _swap(data, broken, target)
    with pytest.raises(DataError) as err:
        list(iter_recipes(data))
    for word in words:
        assert word in str(err.value), f"{word!r} not in {err.value}"
    assert "skip_bad" in str(err.value)  # says how to proceed

    report = SkipReport()
    with caplog.at_level(logging.WARNING, logger="trainer.data.recipe1m"):
        kept = list(iter_recipes(data, skip_bad=True, report=report))
    assert report.counts == {reason: 1} and report.total == 1
    assert len(kept) == 4 or (broken == "layer1_duplicate_id.json" and len(kept) == 5)
    assert reason in report.summary() and "skipped 1 bad record" in caplog.text  # never silent


def test_missing_image_file_is_an_error_only_when_images_are_required(data):
    _swap(data, "layer2_missing_image.json", "layer2.json")
    assert len(read_split(data, "train", require_images=False)[0].image_ids) == 2  # text-only use: fine
    with pytest.raises(DataError) as err:
        read_split(data, "train")
    msg = str(err.value)
    assert "deadbeef00.jpg" in msg and "000018c8a5" in msg and "layer2.json" in msg and "image file missing" in msg
    report = SkipReport()
    train = read_split(data, "train", skip_bad=True, report=report)
    assert report.counts == {"image file missing": 1}
    assert train[0].image_ids == ["3e233001e2.jpg"]  # the recipe stays with its one real photo


def test_unreadable_image_is_caught_when_verifying(data):
    target = data / "images" / "train" / "3" / "e" / "2" / "3" / "3e233001e2.jpg"
    shutil.copyfile(FIXTURES / "broken" / "corrupt.jpg", target)
    assert len(read_split(data, "train")) == 2  # no decode check by default: cheap on 1M images
    with pytest.raises(DataError) as err:
        read_split(data, "train", verify_images=True)
    assert str(target) in str(err.value) and "000018c8a5" in str(err.value) and "unreadable image (" in str(err.value)
    report = SkipReport()
    train = read_split(data, "train", verify_images=True, skip_bad=True, report=report)
    assert report.counts == {"unreadable image": 1} and report.filtered["no image (require_images)"] == 2
    assert [r.id for r in train] == ["000075604a"]


@pytest.mark.parametrize("name", ["layer1.json", "layer2.json", "det_ingrs.json"])
def test_missing_file(data, name):
    (data / name).unlink()
    with pytest.raises(DataError, match=rf"{name}: missing"):
        list(iter_recipes(data))


def test_malformed_json_names_the_last_good_record_and_streams(data):
    _swap(data, "layer1_truncated.json", "layer1.json")
    stream = iter_recipes(data, skip_bad=True)
    # streaming: the records before the damage arrive before the parser reaches it
    assert [next(stream).id, next(stream).id] == ["000018c8a5", "00003a70b1"]
    with pytest.raises(DataError) as err:
        next(stream)
    msg = str(err.value)
    assert "layer1.json" in msg and "malformed JSON after record #1" in msg and "00003a70b1" in msg


def test_top_level_must_be_a_list(data):
    _swap(data, "layer1_not_a_list.json", "layer1.json")
    with pytest.raises(DataError, match="layer1.json: expected a JSON list"):
        list(iter_recipes(data))


def test_classes_round_trip_and_errors(tmp_path, data):
    class_of, names = read_classes(data / "classes1M.pkl")
    assert class_of["000018c8a5"] == 1 and names[0] == "background" and names[3] == "dump cake"
    out = tmp_path / "c.pkl"
    write_classes(out, class_of, names)
    assert read_classes(out) == (class_of, names)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="junk.pkl: not a classes1M.pkl"):
        read_classes(tmp_path / "junk.pkl")
    with pytest.raises(DataError, match="class ids \\[7\\]"):
        write_classes(out, {"a": 7}, names)
    with pytest.raises(DataError, match="not found"):
        read_classes(tmp_path / "absent.pkl")


def test_class_of_title_follows_im2recipe_longest_match():
    names = {0: "background", 1: "pizza", 2: "chocolate chip cookies", 3: "cookies", 4: "mac and cheese"}
    assert class_of_title("Easy Pepperoni Pizza", names) == 1
    assert class_of_title("Chewy Chocolate Chip Cookies II", names) == 2  # longest name wins
    assert class_of_title("Oatmeal Cookies", names) == 3
    assert class_of_title("Worlds Best Mac and Cheese", names) == 4
    assert class_of_title("Pizzazz Salad", names) == 0  # whole words only


def test_dataset_stats_and_cli_table(data):
    stats, report = dataset_stats(data)
    assert stats["recipes"] == 5 and stats["partitions"] == {"train": 3, "val": 1, "test": 1}
    assert stats["images"] == 5 and stats["categories"] == 3 and stats["background_recipes"] == 2
    assert stats["mean_ingredients"] == pytest.approx((4 + 4 + 3 + 3 + 3) / 5)
    _swap(data, "layer1_no_title.json", "layer1.json")
    result = CliRunner().invoke(seje_train, ["data-stats", str(data)])  # through the group, which reports errors
    assert result.exit_code == 2 and "000075604a" in result.output
    result = CliRunner().invoke(seje_train, ["data-stats", str(data), "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "| recipes" in result.output and "skipped 1 bad record" in result.output
