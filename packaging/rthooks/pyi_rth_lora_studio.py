"""PyInstaller runtime hook: runs inside the frozen app before ``launcher.py``.

torch-runtime/: a folder next to the executables that holds an unpacked torch wheel (``torch/``,
``torch-<v>.dist-info/``). The installer build ships without torch and ``get_torch.bat`` fills this
folder; in the portable build it is absent, or can hold a different torch (for example cu126 for an
older GPU) which then wins over the bundled one. Its dependencies (numpy, sympy, networkx, jinja2,
fsspec, filelock, typing_extensions) are always in the bundle.
"""


def _add_torch_runtime() -> None:
    import os
    import sys

    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    runtime = os.path.join(exe_dir, "torch-runtime")
    if os.path.isdir(os.path.join(runtime, "torch")) and runtime not in sys.path:
        sys.path.insert(0, runtime)
        os.environ["LORA_STUDIO_TORCH_RUNTIME"] = runtime


def _keep_out_of_the_user_profile() -> None:
    import os

    # onnxruntime (WD14 tagger) writes a telemetry device id to ~/.cache/Microsoft/DeveloperTools
    # at import; a portable app must not write into the user profile, and we are offline anyway.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


_add_torch_runtime()
_keep_out_of_the_user_profile()
del _add_torch_runtime, _keep_out_of_the_user_profile
