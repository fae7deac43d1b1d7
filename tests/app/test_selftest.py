from __future__ import annotations

import io

from lora_studio.app import selftest
from lora_studio.app.selftest import CheckResult, Outcome, format_summary, run_selftest


def ok_check(reporter, control):
    return "fine"


def failing_check(reporter, control):
    raise RuntimeError("no graphics driver")


def test_selftest_passes(window):
    out = io.StringIO()
    code = run_selftest(window, (("Demo model", ok_check), ("Training step", ok_check)), out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "OK      Main window" in text and "OK      Training step" in text
    assert "Result: OK" in text


def test_selftest_fails_with_reason(window):
    out = io.StringIO()
    code = run_selftest(window, (("Device", failing_check), ("Demo model", ok_check)), out=out)
    text = out.getvalue()
    assert code == 1
    assert "FAILED  Device" in text and "RuntimeError: no graphics driver" in text
    assert "OK      Demo model" in text  # later checks still run
    assert "Result: FAILED (Device)" in text


def test_selftest_time_limit(window):
    def slow(reporter, control):
        control.sleep(30)
        return "never"

    out = io.StringIO()
    assert run_selftest(window, (("Slow", slow),), timeout_s=0.3, out=out) == 1
    assert "Time limit" in out.getvalue()


def test_real_checks_train_one_step_and_generate_one_picture_on_the_demo_project():
    from lora_studio.core.control import RunControl

    results = selftest.run_checks(selftest.DEFAULT_CHECKS, lambda event: None, RunControl())
    assert [r.name for r in results] == ["Demo model", "Device", "Training step", "Generation"]
    for r in results:
        assert r.outcome == Outcome.OK, r
    by_name = {r.name: r.detail for r in results}
    assert "SD 1.5 LoRA" in by_name["Training step"]
    assert "settings stored in the PNG" in by_name["Generation"]


def test_summary_format():
    text = format_summary([CheckResult("Device", Outcome.OK, "CPU\nno CUDA", 0.2)])
    assert text.splitlines()[1].startswith("  OK      Device  CPU")
    assert "no CUDA" in text.splitlines()[2]


def test_device_report_dict_is_described():
    from lora_studio.app.device_probe import describe_report

    gpu = describe_report(
        {"device": "cuda", "device_name": "NVIDIA GeForce RTX 3060", "vram_total_mb": 12288}
    )
    assert gpu.summary == "NVIDIA GeForce RTX 3060, 12 GB"
    assert "device_name: NVIDIA GeForce RTX 3060" in gpu.details
    cpu = describe_report({"device": "cpu", "device_name": "CPU"})
    assert cpu.summary.startswith("Processor only")
    assert describe_report("GPU 0\nmore").summary == "GPU 0"
