"""Tiny captioning models built in code (no download): a WD14-style ONNX tagger and a BLIP folder."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

# (name, category, fixed score or None, colour weight index in BGR or None)
# Fixed-score tags ignore the picture. "red_theme"/"blue_theme" depend on the mean red / blue
# channel, which checks the RGB -> BGR order of the preprocessing.
TAGS: list[tuple[str, int, float | None, int | None]] = [
    ("general", 9, 0.90, None),
    ("sensitive", 9, 0.20, None),
    ("questionable", 9, 0.05, None),
    ("explicit", 9, 0.01, None),
    ("1girl", 0, 0.95, None),
    ("long_hair", 0, 0.80, None),
    ("smile", 0, 0.40, None),
    ("blush", 0, 0.30, None),
    ("^_^", 0, 0.60, None),
    ("hatsune_miku", 4, 0.90, None),
    ("kaname_madoka", 4, 0.70, None),
    ("red_theme", 0, None, 2),
    ("blue_theme", 0, None, 0),
]
COLOUR_WEIGHT = 10.0  # logit = 10 * mean(channel)/255 - 5: full colour -> 0.993, none -> 0.0067
COLOUR_BIAS = -5.0


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def build_wd14(
    folder: Path,
    size: int = 32,
    batch: int | str = "N",
    tags=TAGS,
    extra_outputs: int = 0,
    channels_first: bool = False,
    input_name: str = "input_1:0",
) -> Path:
    """Write ``model.onnx`` ([batch,S,S,3] -> mean over H,W -> /255 -> MatMul -> Sigmoid) and the CSV.

    ``channels_first``: a timm-style export instead ([batch,3,S,S] RGB normalised with mean/std 0.5,
    written to a timm ``config.json``), built to give the same scores as the default layout when
    (and only when) the picture is prepared that way."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    n = len(tags) + extra_outputs
    weight = np.zeros((3, n), dtype=np.float32)
    bias = np.zeros((n,), dtype=np.float32)
    for i, (_name, _cat, score, channel) in enumerate(tags):
        if score is not None:
            bias[i] = _logit(score)
        elif channels_first:  # RGB in -1..1: the same logit as BGR 0..255 below
            weight[2 - channel, i] = COLOUR_WEIGHT / 2
            bias[i] = COLOUR_BIAS + COLOUR_WEIGHT / 2
        else:
            weight[channel, i] = COLOUR_WEIGHT / 255.0
            bias[i] = COLOUR_BIAS
    shape = [batch, 3, size, size] if channels_first else [batch, size, size, 3]
    graph = helper.make_graph(
        [
            helper.make_node(
                "ReduceMean", [input_name], ["mean"], axes=[2, 3] if channels_first else [1, 2], keepdims=0
            ),
            helper.make_node("MatMul", ["mean", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
        ],
        "tiny_wd14",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, [batch, n])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    if channels_first:
        timm = {"architecture": "tiny", "pretrained_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
        (folder / "config.json").write_text(json.dumps(timm), encoding="utf-8")
    with open(folder / "selected_tags.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tag_id", "name", "category", "count"])
        for i, (name, cat, _score, _ch) in enumerate(tags):
            writer.writerow([1000 + i, name, cat, 100 - i])
    return folder


BLIP_WORDS = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]",
    "a", "photo", "of", "cat", "dog", "red", "blue", "the", "on", "grass", "sitting", "with", "hat", "##s",
]  # fmt: skip


def build_blip(folder: Path, seed: int = 0) -> Path:
    """A random-weight BLIP captioning folder (vision 32 px, 2 layers, 32 wide) with a WordPiece vocab."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(
        vocab={w: i for i, w in enumerate(BLIP_WORDS)}, do_lower_case=True, bos_token="[DEC]"
    )
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    processor.save_pretrained(folder)
    text = dict(
        vocab_size=len(BLIP_WORDS),
        hidden_size=32,
        encoder_hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        bos_token_id=BLIP_WORDS.index("[DEC]"),
        eos_token_id=BLIP_WORDS.index("[SEP]"),
        pad_token_id=0,
        sep_token_id=BLIP_WORDS.index("[SEP]"),
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    config = BlipConfig(text_config=text, vision_config=vision, projection_dim=32)
    torch.manual_seed(seed)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    return folder
