"""Tiny random-weight Florence-2, Qwen2.5-VL, LLaVA and CLIPSeg folders built in code (no hub), with
word-level tokenizers made from an in-test vocabulary."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "you", "are", "a", "helpful", "image", "captioner", "describe", "the", "picture", "call", "character",
    "refer", "to", "main", "subject", "as", "zkw", "zorb", "clothes", "and", "pose", "photo", "of", "cat", "red",
    "blue", "dog", "what", "does", "in", "detail", "is", "shown", "with", "paragraph", "system", "user",
    "assistant", ".", ",", "?", "'", ";", "don't", "style", "art",
]  # fmt: skip


def word_tokenizer(specials: list[str], **kwargs):
    """A fast tokenizer over ``specials + WORDS`` split on whitespace and punctuation."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for w in [*specials, *WORDS]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=specials[0]))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=specials[0], **kwargs), vocab


def build_florence2(folder: Path, seed: int = 0) -> Path:
    """Florence-2 with a 2-stage DaViT (32 px pictures -> 17 image tokens) and a 1-layer BART."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, vocab = word_tokenizer(
        ["<unk>", "<pad>", "<s>", "</s>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    images = CLIPImageProcessorPil(
        size={"height": 32, "width": 32}, do_center_crop=False, crop_size={"height": 32, "width": 32}
    )
    images.image_seq_length = 17  # (32/4/2)^2 spatial tokens + 1 pooled
    Florence2Processor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    vision = dict(
        depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1], patch_prenorm=[False, True],
        embed_dim=[16, 32], num_heads=[2, 2], num_groups=[2, 2], window_size=2, projection_dim=32,
        max_position_embeddings=10, max_temporal_embeddings=4,
    )  # fmt: skip
    text = dict(
        vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
        decoder_start_token_id=vocab["</s>"], forced_eos_token_id=None,
    )  # fmt: skip
    config = Florence2Config(text_config=text, vision_config=vision, image_token_id=vocab["<image>"])
    torch.manual_seed(seed)
    Florence2ForConditionalGeneration(config).save_pretrained(folder)
    return folder


QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
]  # fmt: skip
QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }} {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|>"
    "<|vision_end|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)


def build_qwen_vl(folder: Path, seed: int = 0) -> Path:
    """Qwen2.5-VL: a 1-block vision tower (4 px patches, 16x16 pictures) and a 1-layer text model."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, vocab = word_tokenizer(
        QWEN_SPECIALS,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=QWEN_SPECIALS[1:],
    )
    tokenizer.chat_template = QWEN_TEMPLATE
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(
        patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=16 * 16, max_pixels=16 * 16
    ).save_pretrained(folder)
    text = dict(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, eos_token_id=vocab["<|im_end|>"], pad_token_id=0, bos_token_id=0,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    )  # fmt: skip
    vision = dict(
        depth=1, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=4, spatial_merge_size=2,
        temporal_patch_size=2, out_hidden_size=32, window_size=8, fullatt_block_indexes=[0],
    )  # fmt: skip
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    return folder


LLAVA_SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<image>"]
LLAVA_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}</s>{% endfor %}{% if add_generation_prompt %}<s>assistant {% endif %}"
)


def build_llava(folder: Path, seed: int = 0) -> Path:
    """LLaVA (JoyCaption's architecture): a 1-layer CLIP vision tower on 16 px pictures and a 1-layer Llama."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, vocab = word_tokenizer(
        LLAVA_SPECIALS,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    images = CLIPImageProcessorPil(
        size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}, do_center_crop=True
    )
    LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    ).save_pretrained(folder)
    vision = dict(
        model_type="clip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, image_size=16, patch_size=8, projection_dim=16,
    )  # fmt: skip
    text = dict(
        model_type="llama", vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
        bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
    )  # fmt: skip
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=vocab["<image>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    return folder


def build_clipseg(folder: Path, seed: int = 0) -> Path:
    """CLIPSeg on 32 px pictures (8 px patches), 1-layer towers, with the app's bundled CLIP tokenizer."""
    import torch
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        ViTImageProcessorPil,
    )

    from lora_studio.diffusion.tokenizer import load_clip_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_clip_tokenizer()
    images = ViTImageProcessorPil(size={"height": 32, "width": 32})
    CLIPSegProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    text = dict(
        vocab_size=tokenizer.vocab_size + 1, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77,
    )  # fmt: skip
    vision = dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32,
        patch_size=8,
    )  # fmt: skip
    config = CLIPSegConfig(
        text_config=text,
        vision_config=vision,
        projection_dim=16,
        extract_layers=[1],
        reduce_dim=8,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )
    torch.manual_seed(seed)
    CLIPSegForImageSegmentation(config).save_pretrained(folder)
    return folder


def build_bg_remover(
    folder: Path, name: str = "isnetis.onnx", size: int | str = 16, logits: bool = False
) -> Path:
    """A tiny ONNX 'background remover': foreground = how red a pixel is, [1,3,S,S] -> [1,1,S,S].

    It computes ``R - (G + B) / 2`` of the prepared input, so a red subject on a blue background
    comes out as foreground; with ``logits`` the map is scaled to logits (BiRefNet-style)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weight = np.array([[[[1.0]], [[-0.5]], [[-0.5]]]], dtype=np.float32)  # Conv 3 -> 1, 1x1
    scale = np.array([8.0 if logits else 1.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "W"], ["fg"], kernel_shape=[1, 1]),
            helper.make_node("Mul", ["fg", "S"], ["output"]),
        ],
        "tiny_bg_remover",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, size, size])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(scale, "S")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / name))
    return folder
