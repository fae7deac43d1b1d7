"""Our schedule choices survive configs that diffusers loaded (they list the keys the file left out)."""

from __future__ import annotations

from lora_studio.generation.samplers import make_flow_scheduler, make_scheduler


def test_overrides_are_kept_when_the_config_lists_defaulted_keys():
    sd = {"num_train_timesteps": 1000, "_use_default_values": ["timestep_spacing", "use_karras_sigmas"]}
    assert make_scheduler(sd, "Euler", "SGM Uniform").config.timestep_spacing == "trailing"
    assert make_scheduler(sd, "DPM++ 2M", "Karras").config.use_karras_sigmas
    flux = {"shift": 3.0, "use_dynamic_shifting": True, "_use_default_values": ["use_beta_sigmas"]}
    beta = make_flow_scheduler(flux, "Euler", "Beta")
    assert beta.config.use_beta_sigmas and beta.config.use_dynamic_shifting
    assert not make_flow_scheduler(flux, "Euler", "Automatic").config.use_beta_sigmas
