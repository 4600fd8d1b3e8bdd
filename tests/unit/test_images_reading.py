"""core/data/images.py: a zip of class folders read safely into a pixel array on disk, and single images.

Hostile files come from ../shared/bad_inputs (MANIFEST.json says what each must produce; under CI=true its
absence fails the run, tests/conftest.py); the rest are small zips built here.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import i18n
from core.data import images
from core.data.images import ImageLimits, load_image, pixels, read_image_zip, to_array
from core.errors import DataError
from core.i18n import use_language

REPO_ROOT = Path(__file__).resolve().parents[2]
BAD_INPUTS = REPO_ROOT.parent / "shared" / "bad_inputs"
SAMPLES = REPO_ROOT / "sample_data"
needs_bad_inputs = pytest.mark.skipif(
    not (BAD_INPUTS / "MANIFEST.json").exists(), reason="../shared/bad_inputs is not present"
)
CHINESE = re.compile(r"[\u4e00-\u9fff]")


# --- building zips and images ------------------------------------------------------------------------------------


def png(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", **save)
    return buffer.getvalue()


def encoded(image: Image.Image, format: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **save)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], *, symlinks: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o120777 if name in symlinks else 0o100644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def grey_png(value: int = 128, side: int = 16) -> bytes:
    return png(np.full((side, side), value, dtype=np.uint8))


def reason_ids(image_set) -> dict[str, str]:
    return {skipped.name: skipped.reason.id for skipped in image_set.skipped}


def note_ids(image_set) -> list[str]:
    return [note.id for note in image_set.notes]


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "pixels.npy"


# --- the hostile corpus --------------------------------------------------------------------------------------------


@needs_bad_inputs
def test_zip_slip_is_refused_as_a_whole_naming_a_member(out):
    with pytest.raises(DataError) as caught:
        read_image_zip(BAD_INPUTS / "zips" / "44_zip_slip.zip", out)
    message = caught.value.message
    assert "'../../../tmp/zip_slip_escaped.txt'" in message and "'..'" in message
    assert "refused the whole zip" in message
    assert not out.exists() and not list(out.parent.iterdir())
    with use_language("zh"), pytest.raises(DataError) as caught:
        read_image_zip(BAD_INPUTS / "zips" / "44_zip_slip.zip", out)
    assert "zip_slip_escaped.txt" in caught.value.message and CHINESE.search(caught.value.message)


@needs_bad_inputs
def test_the_1_gib_bomb_is_refused_before_any_member_is_opened(out, monkeypatch):
    opened = []

    def spy(self, *args, **kwargs):
        opened.append(args)
        raise AssertionError("a member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(DataError) as caught:
        read_image_zip(BAD_INPUTS / "zips" / "45_zip_bomb_1GiB.zip", out)
    assert opened == []
    message = caught.value.message
    assert "'cats/huge.jpg'" in message
    assert "1.0 GB" in message and "1,019 KB" in message and "1,029 times" in message and "200 times" in message
    assert "zip bomb" in message and not out.exists()


@needs_bad_inputs
def test_mixed_junk_keeps_the_real_images_lists_the_junk_and_normalises_every_mode(out):
    found = read_image_zip(BAD_INPUTS / "zips" / "48_mixed_junk_and_modes.zip", out)
    manifest = found.manifest
    assert list(manifest.columns) == ["file", "label", "split", "width", "height", "mode", "sha1"]
    assert set(manifest["file"]) == {
        "cats/a.jpg", "dogs/only_one.jpg", "modes/mode_CMYK.jpg", "modes/mode_I16.png", "modes/mode_LA.png",
        "modes/mode_P.gif", "modes/mode_RGBA.png", "modes/mode_1.bmp",
    }  # fmt: skip
    assert set(manifest["mode"]) == {"RGB", "CMYK", "I;16", "LA", "P", "RGBA", "1"}
    assert set(manifest["split"]) == {""}
    skipped = reason_ids(found)
    assert skipped == {
        "__MACOSX/cats/._a.jpg": "data.images.skip.system_file",
        ".DS_Store": "data.images.skip.system_file",
        "Thumbs.db": "data.images.skip.system_file",
        "cats/notes.txt": "data.images.skip.not_image",
        "cats/evil.jpg": "data.images.skip.unreadable",
        "readme.jpg": "data.images.skip.outside_class",
    }
    assert (found.side, found.channels) == (32, 3)
    array = pixels(found)
    assert array.shape == (8, 32, 32, 3) and array.dtype == np.uint8
    notes = {note.id: note.render() for note in found.notes}
    assert "'cats', 'dogs'" in notes["data.images.note.one_image"]
    assert "'empty_class'" in notes["data.images.note.empty_classes"]
    assert notes["data.images.note.root_files"].startswith("1 image at the top")
    assert notes["data.images.note.skipped"].startswith("6 files")
    assert notes["data.images.note.resized"].startswith("2 images were resized to 32 × 32")


@needs_bad_inputs
def test_gbk_folder_names_give_chinese_classes(out):
    found = read_image_zip(BAD_INPUTS / "zips" / "49_gbk_folder_names.zip", out)
    assert set(found.manifest["label"]) == {"猫", "狗"}
    assert found.manifest["label"].value_counts().to_dict() == {"狗": 3, "猫": 3}
    assert found.manifest["file"].iloc[0] == "狗/0.jpg"


@needs_bad_inputs
def test_the_pixel_bomb_is_refused_alone_and_skipped_inside_a_zip(out):
    bomb = (BAD_INPUTS / "images" / "41_pixel_bomb_header.png").read_bytes()
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError) as caught:
        load_image(bomb)
    assert "10,000,000,000 pixels" in caught.value.message and "40,000,000" in caught.value.message
    assert Image.MAX_IMAGE_PIXELS == before
    found = read_image_zip(make_zip({"a/bomb.png": bomb, "a/ok.png": grey_png(), "b/ok.png": grey_png()}), out)
    assert reason_ids(found) == {"a/bomb.png": "data.images.skip.too_many_pixels_declared"}
    assert list(found.manifest["file"]) == ["a/ok.png", "b/ok.png"]
    assert Image.MAX_IMAGE_PIXELS == before


@needs_bad_inputs
def test_the_truncated_jpeg_is_refused_alone_and_skipped_inside_a_zip(out):
    truncated = (BAD_INPUTS / "images" / "43_truncated.jpg").read_bytes()
    with pytest.raises(DataError) as caught:
        load_image(truncated)
    assert "truncated" in caught.value.message
    with use_language("zh"), pytest.raises(DataError) as caught:
        load_image(truncated)
    assert "截断" in caught.value.message
    found = read_image_zip(make_zip({"a/cut.jpg": truncated, "a/ok.png": grey_png(), "b/ok.png": grey_png()}), out)
    assert reason_ids(found) == {"a/cut.jpg": "data.images.skip.truncated"}


# --- a zip built here: every mode, EXIF, junk -------------------------------------------------------------------


def _every_mode_zip() -> bytes:
    side = 16
    cmyk = Image.new("CMYK", (side, side), (0, 255, 255, 0))  # red
    i16 = Image.fromarray(np.full((side, side), 65_535, dtype=np.uint16))
    i16.putpixel((0, 0), 32_896)
    la = np.zeros((side, side, 2), dtype=np.uint8)
    la[:, :, 1] = 255
    la[0, 0] = (0, 0)  # transparent black: white once composited
    rgba = np.zeros((side, side, 4), dtype=np.uint8)
    rgba[:, :] = (0, 0, 255, 255)
    rgba[0, 0] = (0, 0, 255, 0)
    palette = Image.new("P", (side, side), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    one = Image.new("1", (side, side), 1)
    # 32 wide, 16 high: left half black, right half white; orientation 6 shows it turned 90° clockwise
    photo = np.zeros((side, 2 * side, 3), dtype=np.uint8)
    photo[:, side:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    whole = encoded(Image.fromarray(noise), "JPEG", quality=95)
    return make_zip(
        {
            "colour/cmyk.tif": encoded(cmyk, "TIFF"),
            "colour/rgba.png": png(rgba),
            "colour/palette.png": encoded(palette, "PNG", transparency=0),
            "grey/i16.png": encoded(i16, "PNG"),
            "grey/la.png": png(la),
            "grey/one.bmp": encoded(one, "BMP"),
            "photo/rotated.jpg": encoded(Image.fromarray(photo), "JPEG", quality=95, exif=exif),
            "photo/plain.png": png(np.full((side, side, 3), 7, dtype=np.uint8)),
            "bad/truncated.jpg": whole[: len(whole) * 2 // 3],
            "bad/text.png": b"this is a text file, renamed",
            "bad/empty.png": b"",
            "bad/inner.zip": make_zip({"x/y.png": grey_png()}),
            "bad/table.csv": b"a,b\n1,2\n",
            "__MACOSX/colour/._cmyk.tif": b"\x00\x05\x16\x07resourcefork",
            "colour/.hidden.png": grey_png(),
        }
    )


def test_every_mode_is_normalised_exif_is_applied_and_junk_is_listed(out):
    found = read_image_zip(_every_mode_zip(), out)
    manifest = found.manifest.set_index("file")
    assert list(manifest.index) == [
        "colour/cmyk.tif", "colour/palette.png", "colour/rgba.png", "grey/i16.png", "grey/la.png", "grey/one.bmp",
        "photo/plain.png", "photo/rotated.jpg",
    ]  # fmt: skip
    assert manifest["mode"].to_dict() == {
        "colour/cmyk.tif": "CMYK", "colour/palette.png": "P", "colour/rgba.png": "RGBA", "grey/i16.png": "I;16",
        "grey/la.png": "LA", "grey/one.bmp": "1", "photo/plain.png": "RGB", "photo/rotated.jpg": "RGB",
    }  # fmt: skip
    assert reason_ids(found) == {
        "bad/truncated.jpg": "data.images.skip.truncated",
        "bad/text.png": "data.images.skip.unreadable",
        "bad/empty.png": "data.images.skip.empty",
        "bad/inner.zip": "data.images.skip.nested_archive",
        "bad/table.csv": "data.images.skip.not_image",
        "__MACOSX/colour/._cmyk.tif": "data.images.skip.system_file",
        "colour/.hidden.png": "data.images.skip.system_file",
    }
    assert (found.side, found.channels) == (16, 3)
    array = pixels(found)
    row = {name: array[position] for position, name in enumerate(manifest.index)}
    assert tuple(row["colour/cmyk.tif"][5, 5]) == (255, 0, 0)
    assert tuple(row["colour/rgba.png"][5, 5]) == (0, 0, 255) and tuple(row["colour/rgba.png"][0, 0]) == (255,) * 3
    assert tuple(row["colour/palette.png"][5, 5]) == (255, 0, 0)
    assert tuple(row["colour/palette.png"][0, 0]) == (255, 255, 255)  # transparent: on white
    assert tuple(row["grey/i16.png"][5, 5]) == (255,) * 3 and tuple(row["grey/i16.png"][0, 0]) == (128,) * 3
    assert tuple(row["grey/la.png"][5, 5]) == (0,) * 3 and tuple(row["grey/la.png"][0, 0]) == (255,) * 3
    assert (row["grey/one.bmp"] == 255).all()
    # EXIF orientation 6: the stored 32×16 picture is shown 16 wide and 32 high, its left (black) half on top
    assert manifest.loc["photo/rotated.jpg", ["width", "height"]].tolist() == [16, 32]
    rotated = row["photo/rotated.jpg"].mean(axis=-1)
    assert rotated[:6].mean() < 40 and rotated[-6:].mean() > 215
    notes = {note.id: note.render() for note in found.notes}
    assert "'bad'" in notes["data.images.note.empty_classes"]
    assert notes["data.images.note.resized"].startswith("1 image was resized to 16 × 16")
    assert notes["data.images.note.grey_expanded"].startswith("3 grey images")
    assert len(set(manifest["sha1"])) == 8


def test_all_grey_images_are_stored_with_one_channel_and_exact_bytes_are_hashed(out):
    found = read_image_zip(make_zip({"a/1.png": grey_png(10), "a/2.png": grey_png(10), "b/3.png": grey_png(200)}), out)
    assert found.channels == 1 and pixels(found).shape == (3, 16, 16, 1)
    assert pixels(found)[2].max() == 200
    assert found.manifest["sha1"].duplicated().tolist() == [False, True, False]


# --- layouts ------------------------------------------------------------------------------------------------------


def test_train_and_test_folders_give_the_split_column(out):
    found = read_image_zip(
        make_zip({
            "Train/cat/1.png": grey_png(), "Train/dog/2.png": grey_png(), "test/cat/3.png": grey_png(),
            "test/dog/4.png": grey_png(), "val/dog/5.png": grey_png(), "train/6.png": grey_png(),
        }),
        out,
    )  # fmt: skip
    rows = found.manifest.set_index("file")[["label", "split"]]
    assert rows.to_dict("index") == {
        "Train/cat/1.png": {"label": "cat", "split": "train"},
        "Train/dog/2.png": {"label": "dog", "split": "train"},
        "test/cat/3.png": {"label": "cat", "split": "test"},
        "test/dog/4.png": {"label": "dog", "split": "test"},
        "val/dog/5.png": {"label": "dog", "split": "train"},
    }
    assert reason_ids(found) == {"train/6.png": "data.images.skip.outside_class"}


def test_a_zipped_single_folder_is_taken_off(out):
    found = read_image_zip(
        make_zip({"photos/": b"", "photos/cat/1.png": grey_png(), "photos/dog/2.png": grey_png(),
                  "__MACOSX/photos/cat/._1.png": b"x"}),
        out,
    )  # fmt: skip
    assert list(found.manifest["label"]) == ["cat", "dog"]
    assert found.notes[0].id == "data.images.note.wrapper" and "'photos'" in found.notes[0].render()
    nested = read_image_zip(
        make_zip({"data/fm/train/cat/1.png": grey_png(), "data/fm/test/cat/2.png": grey_png()}), out
    )
    assert list(nested.manifest["split"]) == ["test", "train"] and set(nested.manifest["label"]) == {"cat"}


def test_a_single_class_folder_is_not_taken_off(out):
    found = read_image_zip(make_zip({"cat/1.png": grey_png(), "cat/2.png": grey_png()}), out)
    assert set(found.manifest["label"]) == {"cat"} and "data.images.note.wrapper" not in note_ids(found)


def test_only_root_level_files_are_refused_with_the_expected_layout(out):
    with pytest.raises(DataError) as caught:
        read_image_zip(make_zip({"1.png": grey_png(), "2.png": grey_png(), "notes.txt": b"hi"}), out)
    message = caught.value.message
    assert message.startswith("The zip holds 3 files but no image LayerLab can use (2 at the top level")
    assert "cat/1.png and dog/2.png" in message and "train/cat/1.png and test/cat/2.png" in message
    with use_language("zh"), pytest.raises(DataError) as caught:
        read_image_zip(make_zip({"1.png": grey_png()}), out)
    assert "cat/1.png" in caught.value.message and "类别文件夹" in caught.value.message
    assert not out.exists()


def test_nothing_readable_after_decoding_is_refused_and_leaves_no_file(out):
    with pytest.raises(DataError, match="no image LayerLab can use"):
        read_image_zip(make_zip({"a/x.png": b"not a png at all", "b/y.png": b""}), out)
    assert not list(out.parent.iterdir())


# --- refusals from the central directory --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/cat/1.png", "absolute path"),
        ("cat/../../1.png", "'..'"),
        ("cat\\1.png", "backslash"),
        ("C:/cat/1.png", "drive letter"),
        ("cat/link.png", "symbolic link"),
    ],
)
def test_every_kind_of_hostile_name_refuses_the_whole_zip(name, why, out, monkeypatch):
    data = make_zip({"dog/ok.png": grey_png(), name: grey_png()}, symlinks=("cat/link.png",))
    assert name in zipfile.ZipFile(io.BytesIO(data)).namelist()
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("a member was opened"))
    with pytest.raises(DataError) as caught:
        read_image_zip(data, out)
    assert f"'{name}'" in caught.value.message and why in caught.value.message


def test_too_many_entries_and_too_much_to_unpack_are_refused_with_the_figures(out, monkeypatch):
    data = make_zip({f"c{i % 2}/{i}.png": grey_png() for i in range(6)})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("a member was opened"))
    with pytest.raises(DataError, match=r"holds 6 files and folders; LayerLab reads at most 5"):
        read_image_zip(data, out, limits=ImageLimits(max_entries=5))
    with pytest.raises(DataError, match=r"add up to \d+ B once unpacked; LayerLab unpacks at most 100 B"):
        read_image_zip(data, out, limits=ImageLimits(max_total_bytes=100))


def test_a_member_over_the_size_limit_is_skipped_unread(out):
    big = png(np.random.default_rng(1).integers(0, 256, size=(64, 64), dtype=np.uint8))
    found = read_image_zip(
        make_zip({"a/big.png": big, "a/ok.png": grey_png(), "b/ok.png": grey_png()}),
        out,
        limits=ImageLimits(max_member_bytes=2_000),
    )
    assert reason_ids(found) == {"a/big.png": "data.images.skip.too_large"}
    assert "LayerLab reads image files of at most 2 KB" in found.skipped[0].reason.render()


def test_not_a_zip_and_a_missing_file_are_data_errors(out, tmp_path):
    with pytest.raises(DataError, match="not a zip archive"):
        read_image_zip(b"PK\x03\x04 but nothing else", out)
    with pytest.raises(DataError, match="'missing.zip' could not be opened"):
        read_image_zip(tmp_path / "missing.zip", out)


# --- side, single images ------------------------------------------------------------------------------------------


def test_side_is_the_median_longest_side_clamped_or_as_asked(out):
    members = {"a/1.png": grey_png(side=4), "a/2.png": grey_png(side=4), "b/3.png": grey_png(side=300)}
    assert read_image_zip(make_zip(members), out).side == 8  # median 4, at least 8
    big = {"a/1.png": grey_png(side=300), "b/2.png": grey_png(side=300)}
    assert read_image_zip(make_zip(big), out).side == 128
    asked = read_image_zip(make_zip(members), out, side=20)
    assert asked.side == 20 and pixels(asked).shape == (3, 20, 20, 1)
    with pytest.raises(DataError, match="between 1 and 128"):
        read_image_zip(make_zip(members), out, side=500)


def test_load_image_and_to_array_match_what_the_zip_stores(out):
    rgba = np.zeros((20, 10, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: white
    image = load_image(png(rgba))
    assert image.mode == "RGB" and image.size == (10, 20)
    assert (to_array(image, side=8, channels=3) == 255).all()
    assert to_array(image, side=8, channels=1).shape == (8, 8, 1)
    grey = load_image(grey_png(90, side=12))
    assert grey.mode == "L" and to_array(grey, side=12, channels=3).shape == (12, 12, 3)
    data = png(np.arange(144, dtype=np.uint8).reshape(12, 12))
    found = read_image_zip(make_zip({"a/1.png": data, "b/2.png": grey_png(side=24)}), out, side=16)
    assert np.array_equal(pixels(out)[0], to_array(load_image(data), side=16, channels=1))
    with pytest.raises(DataError, match="empty"):
        load_image(b"")
    with pytest.raises(DataError, match="not a readable image"):
        load_image(b"GIF89a but broken")
    assert isinstance(pixels(found), np.memmap) and not pixels(found).flags.writeable


# --- messages -----------------------------------------------------------------------------------------------------


def test_every_message_id_of_the_module_exists_in_english_and_chinese():
    source = Path(images.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"(data\.images\.[a-z_.]+)"', source))
    assert len(used) > 25
    for language in ("en", "zh"):
        missing = used - i18n.message_ids(language)
        assert not missing, f"{language}: {sorted(missing)}"
    with use_language("zh"):
        for message_id in sorted(used):
            text = i18n.template(message_id, count=2)
            assert CHINESE.search(text), message_id


# --- the bundled samples ------------------------------------------------------------------------------------------


def test_the_fashion_mnist_sample_reads_as_10_classes_of_1000(out):
    found = read_image_zip(SAMPLES / "fashion_mnist_10k.zip", out)
    manifest = found.manifest
    assert manifest["label"].nunique() == 10
    assert set(manifest["label"].value_counts()) == {1_000}
    assert manifest["split"].value_counts().to_dict() == {"train": 8_000, "test": 2_000}
    assert (found.side, found.channels) == (28, 1) and pixels(found).shape == (10_000, 28, 28, 1)
    assert found.skipped == () and found.notes == ()


def test_the_digits_sample_keeps_the_scaled_pixels(out):
    found = read_image_zip(SAMPLES / "digits.zip", out)
    assert len(found.manifest) == 1_797 and sorted(found.manifest["label"].unique()) == [str(d) for d in range(10)]
    assert (found.side, found.channels) == (8, 1)
    array = pixels(found)
    assert array.max() == 255 and array.min() == 0
    first = found.manifest.index[found.manifest["file"] == "0/0000.png"][0]
    assert array[first, 0, :, 0].tolist() == [0, 0, 80, 207, 143, 16, 0, 0]
