"""`data lists places365`: the official Places365-Standard file lists (fabricated in their exact formats) become
the image lists `scenes train` reads; wrong categories, labels and missing images are reported clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.formats import places365
from devias_tk.data.lists import read_class_names
from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.scenes.images import class_names_from_folders, read_image_list

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})
CATEGORIES = ["/a/airfield", "/a/apartment_building/outdoor", "/b/beach"]


@pytest.fixture()
def places(tmp_path) -> Path:
    """A Places365 root: categories_places365.txt (no trailing newline, as published), the train / val lists and
    the image files they name under data_256/ and val_256/ (one training image and one val image missing)."""
    root = tmp_path / "places365"
    (root / "val_256").mkdir(parents=True)
    (root / "categories_places365.txt").write_text("\n".join(f"{c} {i}" for i, c in enumerate(CATEGORIES)))
    train = []
    for index, category in enumerate(CATEGORIES):
        folder = root / "data_256" / category.strip("/")
        folder.mkdir(parents=True)
        for n in range(1, 4):
            train.append(f"{category}/{n:08d}.jpg {index}")
            if (index, n) != (2, 3):
                (folder / f"{n:08d}.jpg").write_bytes(b"jpg")
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    val = [("Places365_val_00000001.jpg", 2), ("Places365_val_00000002.jpg", 0), ("Places365_val_00000003.jpg", 1)]
    for name, _ in val[:2]:
        (root / "val_256" / name).write_bytes(b"jpg")
    (root / "places365_val.txt").write_text("".join(f"{n} {i}\n" for n, i in val))
    return root


def test_the_official_lists_become_image_lists_with_places365_names(places):
    lists = places365.convert(places, places / "categories_places365.txt", places / "places365_train_standard.txt",
                              places / "places365_val.txt")
    assert lists.classes == CATEGORIES
    assert lists.lists["train"][:2] == [("data_256/a/airfield/00000001.jpg", 0),
                                        ("data_256/a/airfield/00000002.jpg", 0)]
    assert ("data_256/a/apartment_building/outdoor/00000003.jpg", 1) in lists.lists["train"]
    assert len(lists.lists["train"]) == 8 and lists.missing["train"] == [
        "places365_train_standard.txt:9: data_256/b/beach/00000003.jpg"]
    assert lists.lists["val"] == [("val_256/Places365_val_00000001.jpg", 2), ("val_256/Places365_val_00000002.jpg", 0)]
    out = places / "lists"
    places365.write(out, lists)
    # what `scenes train` reads: image list, class names file, and the folder names agree with the categories
    train = read_image_list(out / "train.txt")
    assert [(e.path, e.label) for e in train] == lists.lists["train"]
    assert read_class_names(out / "scenes.txt") == CATEGORIES
    assert read_class_names(places / "categories_places365.txt") == CATEGORIES  # the published file reads the same
    assert [n.removeprefix("data_256") for n in class_names_from_folders(train)] == CATEGORIES
    assert (out / "missing-val.txt").read_text() == "places365_val.txt:3: val_256/Places365_val_00000003.jpg\n"


def test_keep_missing_and_a_per_class_subset(places):
    lists = places365.convert(places, places / "categories_places365.txt", places / "places365_train_standard.txt",
                              per_class=1, keep_missing=True)
    assert [i for _, i in lists.lists["train"]] == [0, 1, 2] and "val" not in lists.lists
    assert "the first 1 images of each class (3 of 9)" in lists.notes[0]


def test_wrong_files_are_refused_with_the_line(places, tmp_path):
    cats = places / "categories_places365.txt"
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("/b/beach 0\n/a/apartment_building/outdoor 1\n/a/airfield 2\n")
    with pytest.raises(ListFormatError, match=r"places365_train_standard.txt:1.*labelled 0 \(/b/beach\), not its"):
        places365.convert(places, swapped, places / "places365_train_standard.txt")
    bad = tmp_path / "bad_val.txt"
    bad.write_text("Places365_val_00000001.jpg 365\n")
    with pytest.raises(ListFormatError, match=r"bad_val.txt:1.*class index 365 is outside the 3 categories"):
        places365.convert(places, cats, val=bad)
    gaps = tmp_path / "gaps.txt"
    gaps.write_text("/a/airfield 0\n/b/beach 2\n")
    with pytest.raises(DeviasError, match=r"class indices must be 0\.\.1 without gaps"):
        places365.convert(places, gaps, val=places / "places365_val.txt")
    with pytest.raises(DeviasError, match=r"no train image folder \(data_256 or data_large\); give it with --train"):
        places365.convert(tmp_path, cats, places / "places365_train_standard.txt")
    with pytest.raises(DeviasError, match="give --train-list and/or --val-list"):
        places365.convert(places, cats)


def test_the_cli(places):
    result = runner.invoke(app, ["data", "lists", "places365", "--root", str(places), "--categories",
                                 str(places / "categories_places365.txt"), "--train",
                                 str(places / "places365_train_standard.txt"), "--val",
                                 str(places / "places365_val.txt")])
    assert result.exit_code == 0, result.output
    assert "train.txt: 8 images, 1 missing" in result.output and "val.txt: 2 images, 1 missing" in result.output
    assert "(3 classes)" in result.output
    assert (places / "train.txt").is_file() and (places / "val.txt").is_file() and (places / "scenes.txt").is_file()
