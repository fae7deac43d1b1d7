"""A1111 sampler + schedule type → a diffusers scheduler built from the model's own scheduler config.

The table follows diffusers' "A1111 ↔ diffusers" mapping (see shared research ecosystem.md §3.3).
Exact pixel parity with A1111 is not a goal (its RNG and sigma handling differ); the same names give
the same family of sampler so results look alike.
"""

from __future__ import annotations

from typing import Any

from lora_studio.generation.request import split_sampler_name

# diffusers lists in a loaded config the keys its file did not set; ``from_config`` drops those keys
# again, which would silently drop our overrides of them (e.g. ``use_beta_sigmas``).
_DEFAULTED = "_use_default_values"

# sampler -> (diffusers class name, extra kwargs)
SAMPLER_TABLE: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    # DPMSolverSDEScheduler needs torchsde; the single-step solver is diffusers' documented stand-in.
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
}

_SIGMA_SCHEDULERS = {
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "LMSDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "UniPCMultistepScheduler",
}

# Legacy combined names that default to Karras in A1111 ("DPM++ 2M Karras" etc.) are split by
# request.split_sampler_name; these samplers use Karras under "Automatic" in A1111 >= 1.9 too.
_AUTOMATIC_KARRAS = {"DPM++ 2M SDE", "DPM++ SDE"}


def scheduler_kwargs(sampler: str, schedule: str) -> tuple[str, dict[str, Any]]:
    """The diffusers scheduler class name and keyword overrides for an A1111 sampler/schedule."""
    sampler, schedule = split_sampler_name(sampler, schedule)
    class_name, kwargs = SAMPLER_TABLE[sampler]
    kwargs = dict(kwargs)
    if schedule == "Automatic" and sampler in _AUTOMATIC_KARRAS:
        schedule = "Karras"
    if class_name in _SIGMA_SCHEDULERS:
        if schedule == "Karras":
            kwargs["use_karras_sigmas"] = True
        elif schedule == "Exponential":
            kwargs.update(use_exponential_sigmas=True, timestep_spacing="linspace")
        elif schedule == "Beta":
            kwargs.update(use_beta_sigmas=True, timestep_spacing="linspace")
    if schedule in ("SGM Uniform", "Simple"):
        kwargs["timestep_spacing"] = "trailing"
    return class_name, kwargs


def make_scheduler(base_config: Any, sampler: str, schedule: str) -> Any:
    """Build the scheduler for ``sampler``/``schedule`` from the model's scheduler config."""
    import diffusers

    class_name, kwargs = scheduler_kwargs(sampler, schedule)
    cls = getattr(diffusers, class_name)
    config = dict(base_config)
    # Settings that belong to another scheduler class would be ignored with a warning; keys that
    # select a sigma schedule must not leak from the base config into a different choice.
    for key in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", _DEFAULTED):
        config.pop(key, None)
    config.update(kwargs)
    try:
        return cls.from_config(config)
    except ImportError as exc:  # LMS needs scipy, DPM++ SDE (true SDE) would need torchsde
        from lora_studio.core.errors import GenerationError

        raise GenerationError(
            f"The sampler “{sampler}” needs a Python package that is not installed.",
            hint="Choose another sampler (Euler a, DPM++ 2M, UniPC …).",
            details=str(exc),
        ) from exc


# FLUX.1 (flow matching): the samplers and schedule types Forge offers for FLUX that diffusers'
# FluxPipeline can drive (it hands the scheduler its own sigmas and the resolution shift ``mu``).
_FLOW_SCHEDULES: dict[str, dict[str, Any]] = {
    "Simple": {},  # the pipeline's evenly spaced sigmas, shifted for the resolution
    "SGM Uniform": {},  # the same spacing for flow models
    "Beta": {"use_beta_sigmas": True},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
}


def flow_scheduler_kwargs(sampler: str, schedule: str) -> tuple[str, dict[str, Any]]:
    """The diffusers scheduler class name and overrides for a FLUX sampler/schedule (Forge names).

    Raises :class:`GenerationError` for samplers FLUX cannot use here ("Euler a", "DPM++ 2M" …).
    """
    from lora_studio.core.errors import GenerationError
    from lora_studio.generation.request import FLOW_SAMPLERS, FLOW_SCHEDULES

    sampler, schedule = split_sampler_name(sampler, schedule)
    if sampler not in FLOW_SAMPLERS:
        raise GenerationError(
            f"The sampler “{sampler}” cannot be used with FLUX.1 models.",
            hint="Choose Euler (Forge's FLUX sampler) with the Simple or Beta schedule.",
        )
    if schedule == "Automatic":
        schedule = "Simple"
    if schedule not in _FLOW_SCHEDULES:
        raise GenerationError(
            f"The schedule type “{schedule}” cannot be used with FLUX.1 models.",
            hint="Choose one of: " + ", ".join(FLOW_SCHEDULES) + ".",
        )
    return "FlowMatchEulerDiscreteScheduler", dict(_FLOW_SCHEDULES[schedule])


def make_flow_scheduler(base_config: Any, sampler: str, schedule: str) -> Any:
    """Build a FLUX scheduler from the model's own flow-matching scheduler config (its shift and
    resolution-dependent shifting are kept)."""
    import diffusers

    class_name, kwargs = flow_scheduler_kwargs(sampler, schedule)
    config = dict(base_config)
    for key in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", _DEFAULTED):
        config.pop(key, None)
    config.update(kwargs)
    try:
        return getattr(diffusers, class_name).from_config(config)
    except ImportError as exc:  # the Beta schedule needs scipy
        from lora_studio.core.errors import GenerationError

        raise GenerationError(
            f"The schedule type “{schedule}” needs a Python package that is not installed.",
            hint="Choose the Simple schedule.",
            details=str(exc),
        ) from exc
