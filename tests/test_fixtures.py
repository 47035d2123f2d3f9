"""The shared fixtures of tests/conftest.py."""
import json


def test_run_once_builds_once_and_shares_the_result(run_once):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "made.txt").write_text("x")
        return {"folder": str(folder), "n": len(calls)}

    first = run_once("fixture-selftest", build)
    again = run_once("fixture-selftest", build)
    assert first == again == {"folder": str(calls[0]), "n": 1} and len(calls) == 1
    assert json.loads((calls[0] / "result.json").read_text()) == first
    assert run_once("fixture-selftest-2", build)["n"] == 2


def test_kernel_env_points_at_the_stand_ins_and_their_override(kernel_env, fake_data):
    sums = json.loads((fake_data / "checksums.json").read_text())
    assert kernel_env["COURSE_DATA_DIR"] == str(fake_data)
    assert kernel_env["COURSE_DATA_CHECKSUMS"] == str(fake_data / "checksums.json")
    assert set(sums) == {"cifar10_md5", "tabular_sha256"} and "PYTHONPATH" not in kernel_env
