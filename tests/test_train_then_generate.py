"""End to end: a LoRA trained on the demo project loads in the generation engine and reproduces the
trainer's own sample picture (same prompt, seed, steps, CFG, sampler)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lora_studio.demo import MODEL_FILE, TRAIN_CONFIG, create_demo_project


def test_trained_lora_reproduces_the_trainers_sample_in_the_generation_engine(tmp_path):
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec
    from lora_studio.training.config import SamplePrompt, load_config, resolve_paths, update
    from lora_studio.training.trainer import run_training

    root = create_demo_project(tmp_path / "demo")
    config, _ = load_config(root / TRAIN_CONFIG)
    prompt = SamplePrompt(prompt="zorb, orange round mascot, waving, beach", seed=7, steps=4, cfg=5.0)
    config = update(
        resolve_paths(config, root),
        **{
            "run.max_steps": 6,
            "run.save_precision": config.run.precision,  # compare like with like: fp32 file
            "sample.prompts": (prompt,),
            "sample.every_n_epochs": 0,
            "sample.every_n_steps": 6,
        },
    )
    result = run_training(config)
    assert result.final_lora is not None and result.samples, "training wrote no LoRA or sample"
    trainer_sample = np.asarray(Image.open(result.samples[-1]).convert("RGB"), dtype=np.int16)

    request = GenerationRequest(
        model=str(root / MODEL_FILE),
        prompt=prompt.prompt,
        loras=(LoraSpec(str(result.final_lora), 1.0),),
        sampler="Euler",
        steps=prompt.steps,
        cfg=prompt.cfg,
        seed=prompt.seed,
        width=64,
        height=64,
        output_dir=str(tmp_path / "out"),
    )
    engine = GenerationEngine()
    with_lora = np.asarray(Image.open(engine.generate(request).paths[0]).convert("RGB"), dtype=np.int16)
    without = np.asarray(
        Image.open(engine.generate(request.with_(loras=())).paths[0]).convert("RGB"), dtype=np.int16
    )
    diff_to_sample = np.abs(with_lora - trainer_sample)
    assert diff_to_sample.max() <= 3, (
        f"engine differs from the trainer's sample by {diff_to_sample.max()} levels"
    )
    # ...and the LoRA really does something, so the match above is not trivial.
    assert np.abs(without - trainer_sample).mean() > 2 * max(diff_to_sample.mean(), 0.1)
