import pytest
import torch

from course import device


def test_auto_picks_cpu_here_and_says_so(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    assert device.pick("auto") == torch.device("cpu")
    assert capsys.readouterr().out.strip() == "Using device: cpu"


def test_env_var_overrides_auto(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert device.pick("auto") == torch.device("cpu")
    assert "$COURSE_DEVICE" in capsys.readouterr().out


def test_env_var_does_not_override_explicit_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda:7")
    assert device.pick("cpu", verbose=False) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "CPU0"])
def test_unknown_device_string_is_explained(bad):
    with pytest.raises(device.DeviceError) as err:
        device.pick(bad, verbose=False)
    msg = str(err.value)
    assert repr(bad.lower()) in msg and "'auto'" in msg and "this machine has: cpu" in msg


def test_cuda_without_gpu_says_what_exists_and_how_to_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(device.DeviceError) as err:
        device.pick("cuda", verbose=False)
    msg = str(err.value)
    assert "'cuda'" in msg and "this machine has: cpu" in msg and "DEVICE = 'auto'" in msg


def test_missing_gpu_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(device, "available", lambda: ["cpu", "cuda:0"])
    with pytest.raises(device.DeviceError, match="only 1 GPU"):
        device.pick("cuda:3", verbose=False)


def test_mps_without_mps(monkeypatch):
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    with pytest.raises(device.DeviceError, match="MPS"):
        device.pick("mps", verbose=False)


def test_colab_cpu_runtime_explains_how_to_get_a_gpu(monkeypatch, capsys):
    import sys
    import types

    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    device.pick("auto")
    assert "Change runtime type" in capsys.readouterr().out


def test_describe_reports_versions(capsys):
    info = device.describe("cpu")
    assert info["torch"] == torch.__version__ and info["device"] == "cpu"
    assert "torch" in capsys.readouterr().out


def test_timer_and_benchmark_measure_on_a_known_clock(monkeypatch):
    """A fake clock that only moves when the timed function runs: the numbers are exact."""
    now = [0.0]
    monkeypatch.setattr(device.time, "perf_counter", lambda: now[0])
    durations = iter([9.0, 9.0, 0.5, 0.1, 0.3, 0.2, 0.4])  # 2 warm-up calls, then 5 timed

    def work():
        now[0] += next(durations)

    assert device.benchmark(work, "cpu", warmup=2, repeat=5) == pytest.approx(0.3)  # the median
    timer = device.Timer("cpu")
    for step in (0.25, 0.5):
        with timer:
            now[0] += step
    assert timer.times == [0.25, 0.5] and timer.avg() == 0.375 and timer.sum() == 0.75
    with pytest.raises(ValueError):
        device.benchmark(lambda: None, repeat=0)
