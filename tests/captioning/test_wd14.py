"""The WD14 tagger on a tiny ONNX model whose scores are known in advance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lora_studio.captioning.base import TagCategory, TaggerOptions, detect_model_kind, load_captioner
from lora_studio.captioning.models.wd14 import WD14Tagger, display_tag, prepare_image, read_tag_table
from lora_studio.core.errors import ModelLoadError
from tests.captioning.conftest import BLUE, RED
from tests.captioning.tiny_models import build_wd14


def red(size=(40, 40)) -> Image.Image:
    return Image.new("RGB", size, RED)


def test_reads_input_size_and_tags_from_the_model(wd14):
    assert wd14.input_size == 32
    assert len(wd14.tags) == 13
    assert wd14.tags[0].category is TagCategory.RATING
    assert wd14.tags[9].category is TagCategory.CHARACTER


def test_default_thresholds_general_and_character(wd14):
    (result,) = wd14.caption([red()], TaggerOptions())
    # sorted by score; blush (0.30 < 0.35) and kaname madoka (character, 0.70 < 0.85) are left out;
    # no rating by default
    assert result.text == "red theme, 1girl, hatsune miku, long hair, ^_^, smile"
    scores = {t.tag: t.score for t in result.tags}
    assert scores["1girl"] == pytest.approx(0.95, abs=1e-4)
    assert scores["red theme"] == pytest.approx(0.9933, abs=1e-3)
    assert {t.tag: t.category for t in result.tags}["hatsune miku"] is TagCategory.CHARACTER


def test_thresholds_apply_per_category(wd14):
    (low_char,) = wd14.caption([red()], TaggerOptions(character_threshold=0.6))
    assert "kaname madoka" in low_char.text
    (high_general,) = wd14.caption([red()], TaggerOptions(general_threshold=0.9))
    assert high_general.text == "red theme, 1girl, hatsune miku"
    (low_general,) = wd14.caption([red()], TaggerOptions(general_threshold=0.25))
    assert "blush" in low_general.text
    assert "kaname madoka" not in low_general.text


def test_rating_tag_on_and_off(wd14):
    (on,) = wd14.caption([red()], TaggerOptions(include_rating=True))
    ratings = [t for t in on.tags if t.category is TagCategory.RATING]
    assert [t.tag for t in ratings] == ["general"]  # only the most likely rating
    (off,) = wd14.caption([red()], TaggerOptions(include_rating=False))
    assert not any(t.category is TagCategory.RATING for t in off.tags)


def test_exclusions_ignore_case_and_underscores(wd14):
    opts = TaggerOptions(exclude_tags=("Long Hair", "hatsune_miku", "1GIRL"))
    (result,) = wd14.caption([red()], opts)
    assert result.text == "red theme, ^_^, smile"


def test_underscores_replaced_but_kaomoji_kept(wd14):
    (spaced,) = wd14.caption([red()], TaggerOptions())
    assert "long hair" in spaced.text and "^_^" in spaced.text and "^ ^" not in spaced.text
    (raw,) = wd14.caption([red()], TaggerOptions(replace_underscores=False))
    assert "long_hair" in raw.text and "hatsune_miku" in raw.text and "^_^" in raw.text
    assert display_tag("x_x") == "x_x"
    assert display_tag("school_uniform") == "school uniform"


def test_max_tags_keeps_the_best(wd14):
    (result,) = wd14.caption([red()], TaggerOptions(max_tags=2))
    assert result.text == "red theme, 1girl"


def test_colour_reaches_the_model_in_bgr_order(wd14):
    r, b = wd14.caption([red(), Image.new("RGB", (40, 40), BLUE)], TaggerOptions())
    assert "red theme" in r.text and "blue theme" not in r.text
    assert "blue theme" in b.text and "red theme" not in b.text


def test_prepare_image_pads_on_white_and_is_bgr_nhwc():
    im = Image.new("RGB", (20, 10), RED)
    arr = prepare_image(im, 20)
    assert arr.shape == (20, 20, 3) and arr.dtype == np.float32
    assert arr[10, 10].tolist() == [0.0, 0.0, 255.0]  # red in BGR
    assert arr[0, 10].tolist() == [255.0, 255.0, 255.0]  # padding is white
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert prepare_image(rgba, 8).min() == 255.0  # transparent -> white


def test_fixed_batch_model_runs_one_at_a_time(tmp_path):
    folder = build_wd14(tmp_path / "fixed", size=16, batch=1)
    tagger = WD14Tagger()
    tagger.load(folder, "cpu")
    results = tagger.caption([red(), red(), Image.new("RGB", (9, 30), BLUE)], TaggerOptions())
    assert len(results) == 3 and "blue theme" in results[2].text


def test_load_captioner_detects_the_family(wd14_dir):
    assert detect_model_kind(wd14_dir) == "wd14"
    captioner = load_captioner(wd14_dir, "cpu")
    assert isinstance(captioner, WD14Tagger) and captioner.loaded
    captioner.unload()
    assert not captioner.loaded


# -- broken folders -------------------------------------------------------------------------------------


def test_empty_folder_names_both_files_and_the_repository(tmp_path):
    folder = tmp_path / "wd-swinv2-tagger-v3"
    folder.mkdir()
    with pytest.raises(ModelLoadError) as err:
        WD14Tagger().load(folder)
    text = str(err.value)
    assert "model.onnx and selected_tags.csv" in text
    assert "SmilingWolf/wd-swinv2-tagger-v3" in text and str(folder) in text


def test_missing_csv_names_only_the_csv(tmp_path, wd14_dir):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((wd14_dir / "model.onnx").read_bytes())
    with pytest.raises(ModelLoadError) as err:
        load_captioner(folder)
    text = str(err.value)
    assert "selected_tags.csv" in text and "model.onnx" not in text.split("Put")[1]


def test_corrupt_onnx_file(tmp_path, wd14_dir):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"this is not an onnx file")
    (folder / "selected_tags.csv").write_text((wd14_dir / "selected_tags.csv").read_text())
    with pytest.raises(ModelLoadError) as err:
        WD14Tagger().load(folder)
    assert "model.onnx" in err.value.message and "damaged" in err.value.message
    assert "Download it again" in err.value.hint


def test_csv_without_columns(tmp_path, wd14_dir):
    folder = tmp_path / "badcsv"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((wd14_dir / "model.onnx").read_bytes())
    (folder / "selected_tags.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ModelLoadError, match="no name or category column"):
        WD14Tagger().load(folder)


def test_tag_count_mismatch(tmp_path):
    folder = build_wd14(tmp_path / "mismatch", extra_outputs=2)
    with pytest.raises(ModelLoadError, match="different models"):
        WD14Tagger().load(folder)


def test_read_tag_table_handles_bom_and_unknown_categories(tmp_path):
    path = tmp_path / "selected_tags.csv"
    path.write_text("\ufefftag_id,name,category,count\n1,cat_ears,0,5\n2,weird,7,1\n", encoding="utf-8")
    table = read_tag_table(path)
    assert [(t.name, t.category) for t in table] == [
        ("cat_ears", TagCategory.GENERAL),
        ("weird", TagCategory.GENERAL),
    ]


def test_v3_layout_input_named_input_with_a_free_batch(tmp_path, wd14):
    """The v3 taggers: same BGR 0..255 NHWC contract, input called ``input``, any batch size."""
    folder = build_wd14(tmp_path / "wd-vit-tagger-v3", size=24, batch="batch_size", input_name="input")
    tagger = WD14Tagger()
    tagger.load(folder, "cpu")
    pictures = [red(), Image.new("RGB", (40, 40), BLUE), red()]
    assert tagger.input_size == 24
    assert [r.text for r in tagger.caption(pictures, TaggerOptions())] == [
        r.text for r in wd14.caption(pictures, TaggerOptions())
    ]


def test_channels_first_timm_export_is_normalised_rgb(tmp_path, wd14):
    folder = build_wd14(tmp_path / "timm-export", size=32, channels_first=True, input_name="pixel_values")
    tagger = WD14Tagger()
    tagger.load(folder, "cpu")
    pictures = [red(), Image.new("RGB", (40, 40), BLUE)]
    np.testing.assert_allclose(tagger.scores(pictures), wd14.scores(pictures), atol=1e-4)
    r, b = tagger.caption(pictures, TaggerOptions())
    assert "red theme" in r.text and "blue theme" not in r.text
    assert "blue theme" in b.text and "red theme" not in b.text
