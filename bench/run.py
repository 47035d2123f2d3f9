"""The course's benchmark suite (``make bench``): how fast the course is, measured, never assumed.

    python bench/run.py                  every figure; writes bench/results.md, bench/results.json
                                         and the performance block of README.md
    python bench/run.py --only 3         one figure (or --only 2,3); the others keep their last result
    python bench/run.py --only 3 --tiny  tiny settings to check the plumbing in seconds; results go to
                                         build/bench/tiny/ and never to the README
    make bench ONLY=3                    the same through make

Figures (comparisons are measured side by side in one run, so machine load hits both sides):

1. the whole course in smoke mode: every lesson and assignment solution executed on a fresh
   kernel with the stand-in data of ``course.standin`` (as ``make test`` runs them), total seconds;
2. lesson 12's CNN on the CPU with the real MNIST, run 3 times: the median and the range (min,
   max) of the seconds of training until the test accuracy first reaches 99.0% (the lesson
   records ``seconds_to_99``, read at the end of an epoch, test passes included), and of the final
   test accuracy; each run's load average is kept in the details;
3. one MNIST epoch through ``course.data.InMemoryLoader`` vs torchvision's ``DataLoader`` with
   ``ToTensor`` + ``Normalize`` (real data): epoch seconds of each and their ratio, iterating only
   and training a small MLP;
4. autograding 20 submissions of an assignment with nbgrader serially vs ``JOBS=2``
   (``bench/gradingkit.benchmark``): seconds, ratio, and whether the scores are identical;
5. ``import course`` in a fresh process, and an exercise check's latency (first call in a fresh
   process, and warm);
6. on a GPU (``make gpu-check``): lesson 12 in full (seconds to 99%), lesson 16's fast ResNet in full
   (CIFAR-10 test accuracy with and without flip averaging, seconds), the ``gpu``-marked tests
   (``pytest -m gpu``) and lesson 16's DDP script with ``torchrun``, one process per GPU, with the
   GPU's name; without CUDA it says so and records "not measured (no GPU)", never a number.

The real datasets come from the course's data cache (``COURSE_DATA_DIR`` or ``--data-dir``).
Numbers depend on the machine and on how busy it is: each result carries the date, the machine and
the 1-minute load average at its start.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's course package

from course.paths import ROOT  # noqa: E402

BENCH_DIR = ROOT / "bench"
TINY_DIR = ROOT / "build" / "bench" / "tiny"
RUNS_DIR = ROOT / "build" / "bench" / "runs"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LESSON_12 = "notebooks/12_*.ipynb"
LESSON_16 = "notebooks/16_*.ipynb"
NO_GPU = "not measured (no GPU)"
FIG2_RUNS = 3  # runs of lesson 12 in figure 2 (2 with --tiny)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def machine() -> dict:
    """What the numbers were measured on: CPU model and cores, RAM, GPU, versions, load."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = round(kb / 2**20, 1)
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram, "gpu": gpu,
            "os": platform.platform(terse=True), "python": platform.python_version(),
            "torch": torch.__version__}


def machine_label(m: dict) -> str:
    label = f"{m['cpu']}, {m['cores']} cores"
    if m.get("ram_gib"):
        label += f", {m['ram_gib']:g} GiB RAM"
    return label + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU")


def load_average() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def find_one(pattern: str) -> Path | None:
    found = sorted(ROOT.glob(pattern))
    return found[0] if found else None


@contextlib.contextmanager
def quiet_stdout():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def stand_in_env(folder: Path) -> dict:
    """Kernel environment with the stand-in datasets of ``course.standin`` and their checksum
    override (``$COURSE_DATA_CHECKSUMS``), as the test suite's ``kernel_env``."""
    from course import standin

    checksums = standin.write_all(folder)
    return {"COURSE_DATA_DIR": str(folder), "COURSE_DATA_CHECKSUMS": str(checksums)}


def run_lesson(path: Path, device: str, smoke: bool, out: Path, extra: dict | None = None):
    """Execute a lesson with the runner (fresh kernel); return its RunResult."""
    from course import runner

    params = runner.smoke_parameters(device, smoke, extra)
    return runner.run_notebook(path, out, params, timeout=3600)


def lesson_seconds_to_99(path: Path | None, device: str, tiny: bool, out: Path | None = None) -> dict:
    """Run lesson 12 on ``device`` with the real MNIST; read the ``seconds_to_99`` it records.

    ``out``: folder of the executed copy (default ``build/bench/runs/<device>``).
    """
    if path is None:
        return {"result": "not measured (lesson 12 is missing)", "value": None}
    result = run_lesson(path, device, smoke=tiny, out=out or RUNS_DIR / device)
    metrics = result.metrics
    details = {"notebook": result.notebook, "status": result.status, "run_seconds": result.seconds,
               "metrics": metrics, "smoke": tiny}
    if result.status != "ok":
        return {"result": f"failed: {result.error}", "value": None, "details": details}
    key = next((k for k in metrics if k.startswith("seconds_to_99")), None)
    acc = metrics.get("test_acc")
    acc_text = f", final test accuracy {acc:.2%}" if isinstance(acc, (int, float)) else ""
    if key is None or metrics[key] is None or metrics[key] != metrics[key]:  # missing or NaN
        return {"result": f"did not reach 99.0% (run {result.seconds:.0f} s{acc_text})", "value": None,
                "details": details}
    return {"result": f"{metrics[key]:.0f} s to 99.0%{acc_text} (whole notebook {result.seconds:.0f} s)",
            "value": metrics[key], "unit": "s", "details": details}


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------
def fig_1_course_smoke(args) -> dict:
    """``make smoke``: every lesson and assignment solution in smoke mode on the stand-in data,
    ``JOBS`` (2) at a time on the CPU, as ``python -m course run ... --smoke --jobs 2`` does it
    (kernels forked from one warm zygote, longest first): wall seconds of the whole run."""
    from course import notebooks, runner

    lessons = runner.find_notebooks()
    solutions = [p for p in notebooks.all_notebooks(ROOT) if p.relative_to(ROOT).parts[0] == "solutions"]
    paths = lessons + solutions
    if args.tiny:
        paths = paths[:2]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data:
        env = stand_in_env(Path(data))
        with runner._environment(env):
            table = runner.run(paths, RUNS_DIR / "smoke", smoke=True, device="cpu", data_dir=data,
                               timeout=600, verbose=False, jobs=2)
    total = round(time.perf_counter() - start, 1)
    rows = table.to_dict("records")
    failed = [r["notebook"] for r in rows if r["status"] != "ok"]
    result = f"{total:.0f} s for {len(rows)} notebooks, 2 at a time ({len(rows) - len(failed)} ok)"
    if failed:
        result += f"; FAILED: {', '.join(failed)}"
    slowest = sorted(rows, key=lambda r: -r["seconds"])[:3]
    result += "; slowest: " + ", ".join(f"{Path(r['notebook']).stem} {r['seconds']:.0f} s" for r in slowest)
    return {"result": result, "value": total, "unit": "s", "details": {"notebooks": rows, "data": "stand-in",
                                                                       "jobs": 2}}


def _spread(values: list[float], fmt: str) -> str:
    """"median M (min A, max B)" of ``values`` formatted with ``fmt``; just the value for one."""
    if len(values) == 1:
        return format(values[0], fmt)
    return (f"median {format(statistics.median(values), fmt)} (min {format(min(values), fmt)}, "
            f"max {format(max(values), fmt)})")


def fig_2_lesson12_cpu(args) -> dict:
    """Lesson 12's CNN on the CPU, real MNIST, ``FIG2_RUNS`` runs: median and range of the seconds
    to 99.0% test accuracy and of the final accuracy.

    With ``--tiny`` the lesson runs twice in smoke mode (stand-in data when MNIST is not in the
    cache): that checks the plumbing, and its seconds say nothing about the lesson.
    """
    path = find_one(LESSON_12)
    if path is None:
        return {"result": "not measured (lesson 12 is missing)", "value": None}
    from course import data, runner

    runs = 2 if args.tiny else FIG2_RUNS
    entries = []
    with contextlib.ExitStack() as stack:
        if args.tiny and data.cache_status().get("mnist") != "ok":
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-"))
            stack.enter_context(runner._environment(stand_in_env(Path(folder))))
        for k in range(1, runs + 1):
            load = load_average()
            print(f"  lesson 12, run {k} of {runs} (1-min load average {load}) ...", flush=True)
            entry = lesson_seconds_to_99(path, "cpu", args.tiny, out=RUNS_DIR / "cpu" / f"run{k}")
            entry["load_before"] = load
            entries.append(entry)
            print(f"    {entry['result']}", flush=True)
    details = {"runs": [{"load_before": e["load_before"], "result": e["result"],
                         **e.get("details", {})} for e in entries],
               "seconds_to_99_definition": "seconds of training, test passes included, until the end "
                                           "of the first epoch with test accuracy >= 99.0%"}
    failed = [f"run {k}: {e['result']}" for k, e in enumerate(entries, 1)
              if e.get("details", {}).get("status") != "ok"]
    if failed:
        return {"result": f"{len(failed)} of {runs} runs failed: " + "; ".join(failed), "value": None,
                "details": details}
    seconds = [e["value"] for e in entries if e["value"] is not None]
    accs = [e["details"]["metrics"].get("test_acc") for e in entries]
    accs = [a for a in accs if isinstance(a, (int, float))]
    whole = [e["details"]["run_seconds"] for e in entries]
    acc_text = f"final test accuracy {_spread([a * 100 for a in accs], '.2f')}%" if accs else "no test_acc recorded"
    if len(seconds) == runs:
        head = f"seconds to 99.0%: {_spread(seconds, '.1f')} over {runs} runs"
    else:
        reached = f"{_spread(seconds, '.1f')} s for those" if seconds else "none did"
        head = f"only {len(seconds)} of {runs} runs reached 99.0% ({reached})"
    result = f"{head}; {acc_text}; whole notebook {_spread(whole, '.0f')} s"
    details.update(seconds_to_99=seconds, test_acc=accs, notebook_seconds=whole)
    return {"result": result, "value": round(statistics.median(seconds), 1) if len(seconds) == runs else None,
            "unit": "s", "details": details}


def _time_epochs(loader, epochs: int, step=None) -> list[float]:
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for X, y in loader:
            if step is not None:
                step(X, y)
        times.append(time.perf_counter() - start)
    return times


def _mlp_step():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(X, y):
        loss = loss_fn(model(X), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def fig_3_loaders(args) -> dict:
    """One MNIST epoch: InMemoryLoader vs DataLoader(ToTensor + Normalize), side by side."""
    import torch

    from course import data

    n = 2000 if args.tiny else None
    epochs = 1 if args.tiny else 2
    batch_size = 64
    workers = data.default_num_workers()
    dataset = data.subset(data.mnist(True, transform=data.standard_transform("mnist")), n)
    torch_loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                               num_workers=workers)
    memory_loader = data.in_memory_loader("mnist", True, batch_size, "cpu", subset_size=n)
    assert len(memory_loader) == len(torch_loader), "the two loaders must make the same batches"
    first_x, _ = next(iter(memory_loader))
    ref_x, _ = next(iter(torch_loader))
    assert first_x.shape == ref_x.shape and first_x.dtype == ref_x.dtype
    out = {}
    for mode, step in (("iterate", None), ("train MLP", "mlp")):
        step_fn = _mlp_step() if step else None
        t_torch = _time_epochs(torch_loader, epochs, step_fn)
        step_fn = _mlp_step() if step else None
        t_mem = _time_epochs(memory_loader, epochs, step_fn)
        out[mode] = {"dataloader_s": [round(t, 3) for t in t_torch], "in_memory_s": [round(t, 3) for t in t_mem],
                     "ratio": round(statistics.mean(t_torch) / statistics.mean(t_mem), 1)}
    it, tr = out["iterate"], out["train MLP"]
    result = (f"iterate: DataLoader {statistics.mean(it['dataloader_s']):.2f} s vs in-memory "
              f"{statistics.mean(it['in_memory_s']):.2f} s per epoch ({it['ratio']:g}x); with a small MLP "
              f"training: {statistics.mean(tr['dataloader_s']):.2f} s vs {statistics.mean(tr['in_memory_s']):.2f} s "
              f"({tr['ratio']:g}x)")
    return {"result": result, "value": it["ratio"], "unit": "x",
            "details": {**out, "samples": len(dataset), "batch_size": batch_size, "epochs_each": epochs,
                        "num_workers": workers, "threads": torch.get_num_threads()}}


def fig_4_autograde(args) -> dict:
    """40 submissions of A1 (20 correct, 20 wrong): plain serial nbgrader autograde vs make
    autograde JOBS=2 (bench/gradingkit.benchmark)."""
    import gradingkit
    from course.autograde.commands import list_assignments

    assignments = list_assignments(ROOT)
    if not assignments:
        return {"result": "not measured (no assignment in solutions/)", "value": None}
    assignment = args.assignment or assignments[0]
    n, jobs = (4, 2) if args.tiny else (40, 2)
    # nbgrader runs `alembic` by name: this interpreter's bin goes first on PATH
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as work:
        r = gradingkit.benchmark(assignment, n=n, jobs=jobs, root=ROOT, workdir=Path(work))
    same = "identical scores" if r["identical_scores"] else "SCORES DIFFER"
    result = (f"{r['n']} submissions of {assignment} (half correct, half wrong): plain nbgrader autograde "
              f"{r['serial_s']:.0f} s, make autograde JOBS={r['jobs']} {r['parallel_s']:.0f} s "
              f"({r['speedup']:g}x), {same}")
    return {"result": result, "value": r["speedup"], "unit": "x", "details": {"assignment": assignment, **r}}


_IMPORT_CODE = "import time; t = time.perf_counter(); import course; print(time.perf_counter() - t)"
_COLD_CHECK = """
import time; t = time.perf_counter()
import course, contextlib, io, importlib
with contextlib.redirect_stdout(io.StringIO()):
    points = importlib.import_module("course.exercises.l01").check_mae(lambda y_hat, y: (y_hat - y).abs().mean())
assert points == 1, points
print(time.perf_counter() - t)
"""


def _fresh_process_seconds(code: str, repeat: int) -> tuple[list[float], list[float]]:
    """(seconds the code reports, wall seconds of the whole process) over ``repeat`` runs."""
    inner, wall = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - start)
        inner.append(float(out.stdout.strip().splitlines()[-1]))
    return inner, wall


def fig_5_latency(args) -> dict:
    """``import course`` in a fresh process, and an exercise check's latency (cold and warm)."""
    import importlib

    import torch

    l01 = importlib.import_module("course.exercises.l01")
    repeat = 2 if args.tiny else 7
    imp, imp_wall = _fresh_process_seconds(_IMPORT_CODE, repeat)
    cold, cold_wall = _fresh_process_seconds(_COLD_CHECK, max(2, repeat // 2))
    mae = lambda y_hat, y: (y_hat - y).abs().mean()  # noqa: E731 - a correct learner answer
    warm = []
    with quiet_stdout():
        l01.check_mae(mae)
        for _ in range(20 if args.tiny else 200):
            start = time.perf_counter()
            l01.check_mae(mae)
            warm.append(time.perf_counter() - start)
    med = statistics.median
    result = (f"import course {med(imp) * 1e3:.0f} ms (fresh process, {med(imp_wall) * 1e3:.0f} ms with "
              f"interpreter start); exercise check (l01 check_mae, 4 cases): warm {med(warm) * 1e3:.1f} ms, "
              f"first call in a fresh process {med(cold):.2f} s (imports torch)")
    return {"result": result, "value": round(med(warm) * 1e3, 2), "unit": "ms",
            "details": {"import_course_s": [round(x, 4) for x in imp],
                        "import_course_process_wall_s": [round(x, 3) for x in imp_wall],
                        "check_cold_s": [round(x, 3) for x in cold],
                        "check_cold_process_wall_s": [round(x, 3) for x in cold_wall],
                        "check_warm_median_ms": round(med(warm) * 1e3, 3),
                        "check_warm_calls": len(warm), "torch_threads": torch.get_num_threads()}}


# Figure 6 (`make gpu-check`): what only a CUDA machine can measure, in one call of a few minutes
GPU_DDP_EPOCHS = 5        # epochs of the DDP script on the GPUs (one process per GPU)
GPU_DDP_WIDTH = 16        # its network's width, as lesson 16 uses it on several GPUs
GPU_PARTS = ("lesson 12 seconds to 99%", "lesson 16 fast ResNet", "pytest -m gpu", "DDP with torchrun")


def gpu_names() -> list[str]:
    """Names of the CUDA GPUs torch sees ([] without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _safely(part, *args) -> dict:
    """Run one part of figure 6; a failure becomes its result instead of losing the others."""
    try:
        return part(*args)
    except Exception as err:  # noqa: BLE001 - report it, measure the rest
        return {"result": f"failed: {type(err).__name__}: {err}"}


def lesson16_text(status: str, metrics: dict, error: str | None = None) -> str:
    """One line from lesson 16's recorded metrics: accuracy with and without flip averaging, seconds."""
    if status != "ok":
        return f"failed: {error}"
    acc, tta = metrics.get("fast_test_acc"), metrics.get("fast_tta_acc")
    secs, mode = metrics.get("fast_seconds"), metrics.get("fast_run")
    if acc is None:
        return f"the lesson recorded no fast_test_acc (recorded: {metrics})"
    text = f"{acc:.2%} CIFAR-10 test accuracy"
    if tta is not None:
        text += f", {tta:.2%} with flip averaging"
    if secs is not None:
        text += f", {secs:.0f} s of training"
    return text + (f" ({mode} run)" if mode else "")


def _lesson16_gpu(tiny: bool) -> dict:
    path = find_one(LESSON_16)
    if path is None:
        return {"result": "not measured (lesson 16 is missing)"}
    r = run_lesson(path, "cuda", smoke=tiny, out=RUNS_DIR / "cuda")
    # lesson 16 records fast_test_acc, fast_tta_acc, fast_seconds and fast_run ("full" or "reduced-cpu")
    return {"result": lesson16_text(r.status, r.metrics, r.error), "value": r.metrics.get("fast_tta_acc"),
            "details": {"status": r.status, "run_seconds": r.seconds, "metrics": r.metrics}}


def junit_counts(xml_text: str) -> dict:
    """passed / failed / errors / skipped / seconds of a pytest ``--junitxml`` report."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for suite in suites:
        for key in counts:
            counts[key] += type(counts[key])(suite.get(key, 0))
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"passed": passed, "failed": counts["failures"], "errors": counts["errors"],
            "skipped": counts["skipped"], "seconds": round(counts["time"], 1)}


def gpu_tests(paths: list[str] | None = None, out: Path | None = None) -> dict:
    """``pytest -m gpu`` in a fresh process; counts from its JUnit report."""
    out = out or RUNS_DIR / "gpu-tests.xml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
           f"--junitxml={out}", *(paths or ["tests"])]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if not out.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        return {"result": f"failed: pytest exited with {proc.returncode} and wrote no report: {' | '.join(tail)}"}
    c = junit_counts(out.read_text())
    text = f"{c['passed']} passed, {c['failed'] + c['errors']} failed, {c['skipped']} skipped"
    if proc.returncode not in (0, 5):  # 5: nothing collected
        text += f" (pytest exit status {proc.returncode})"
    return {"result": text, "value": c["passed"], "details": {**c, "returncode": proc.returncode,
                                                              "command": " ".join(cmd[1:])}}


def ddp_summary(folder: Path) -> dict:
    """What the ranks of ``ddp_cifar.py --out folder`` wrote: identical weights, seconds, accuracy."""
    ranks = [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]
    if not ranks:
        return {"result": f"failed: no rank*.json in {folder}"}
    rank0 = next(r for r in ranks if r["rank"] == 0)
    identical = len({r["weights_sha256"] for r in ranks}) == 1
    seconds = max(r["seconds"] for r in ranks)
    text = (f"{len(ranks)} process(es), backend {rank0['backend']}, {rank0['steps']} steps in "
            f"{seconds:.1f} s")
    if rank0.get("test_acc") is not None:
        text += f", test accuracy {rank0['test_acc']:.2%} ({rank0['test_size']} images)"
    text += ", weights identical on every rank" if identical else ", WEIGHTS DIFFER between ranks"
    return {"result": text, "value": seconds, "details": {
        "processes": len(ranks), "backend": rank0["backend"], "devices": [r["device"] for r in ranks],
        "steps": rank0["steps"], "seconds": seconds, "test_acc": rank0.get("test_acc"),
        "identical_weights": identical}}


def ddp_run(nproc: int, out: Path, *, backend: str = "auto", data: str = "cifar10", epochs: int = 1,
            steps: int = 0, width: int = GPU_DDP_WIDTH, extra: list[str] | None = None) -> dict:
    """Lesson 16's DDP script with torchrun, ``nproc`` processes; its summary (``ddp_summary``)."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(ROOT / "notebooks" / "scripts" / "ddp_cifar.py"), "--data", data, "--backend", backend,
           "--epochs", str(epochs), "--steps", str(steps), "--width", str(width), "--out", str(out),
           *(extra or [])]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        return {"result": f"failed: torchrun exited with {proc.returncode}: {' | '.join(tail)}"}
    summary = ddp_summary(out)
    summary.setdefault("details", {})["command"] = "torchrun " + " ".join(cmd[3:])
    return summary


def fig_6_gpu(args) -> dict:
    """On a CUDA machine (``make gpu-check``): lesson 12 in full (seconds to 99%), lesson 16's fast
    ResNet in full (accuracy with and without flip averaging, seconds), the ``gpu``-marked tests,
    and the DDP script with torchrun, one process per GPU. Without CUDA: says so, measures nothing."""
    names = gpu_names()
    if not names:
        print(f"  NO GPU: torch.cuda.is_available() is False on this machine, so figure 6 measures "
              f"nothing and records '{NO_GPU}'. Run `make gpu-check DATA=dir` on a machine with an "
              f"NVIDIA GPU and CUDA.", flush=True)
        return {"result": "; ".join(f"{part}: {NO_GPU}" for part in GPU_PARTS), "value": None,
                "details": {"cuda_available": False, **{part: NO_GPU for part in GPU_PARTS}}}
    gpus = f"{len(names)} x {names[0]}" if len(set(names)) == 1 else ", ".join(names)
    print(f"  GPU(s): {gpus}", flush=True)
    print("  lesson 12 in full on cuda ...", flush=True)
    l12 = _safely(lesson_seconds_to_99, find_one(LESSON_12), "cuda", args.tiny)
    print(f"    {l12['result']}\n  lesson 16 in full on cuda ...", flush=True)
    l16 = _safely(_lesson16_gpu, args.tiny)
    print(f"    {l16['result']}\n  pytest -m gpu ...", flush=True)
    tests = _safely(gpu_tests)
    print(f"    {tests['result']}\n  DDP script, {len(names)} process(es) ...", flush=True)
    if args.tiny:
        ddp = _safely(lambda: ddp_run(len(names), RUNS_DIR / "ddp-gpu", data="synthetic", steps=5, width=4))
    else:
        ddp = _safely(lambda: ddp_run(len(names), RUNS_DIR / "ddp-gpu", epochs=GPU_DDP_EPOCHS))
    print(f"    {ddp['result']}", flush=True)
    parts = dict(zip(GPU_PARTS, (l12, l16, tests, ddp)))
    import torch

    return {"result": f"{gpus}: " + "; ".join(f"{k}: {v['result']}" for k, v in parts.items()),
            "value": l12.get("value"), "unit": "s",
            "details": {"gpus": names, "torch_cuda": torch.version.cuda,
                        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
                        **{k: {kk: vv for kk, vv in v.items() if kk != "value"} for k, v in parts.items()}}}


FIGURES = {
    1: ("make smoke: the whole course in smoke mode, 2 at a time (lessons + assignment solutions, stand-in data)",
        fig_1_course_smoke),
    2: ("Lesson 12 CNN on CPU, 3 runs: seconds to 99.0% MNIST test accuracy and final accuracy, "
        "median (min, max) (real data)", fig_2_lesson12_cpu),
    3: ("MNIST epoch: in-memory iterator vs DataLoader + ToTensor (real data)", fig_3_loaders),
    4: ("Autograde 40 submissions: plain nbgrader vs make autograde JOBS=2", fig_4_autograde),
    5: ("`import course` and an exercise check's latency", fig_5_latency),
    6: ("GPU (make gpu-check): lesson 12 seconds to 99%, lesson 16 fast ResNet, pytest -m gpu, DDP",
        fig_6_gpu),
}


# ---------------------------------------------------------------------------------------------
# Results: JSON, Markdown, README block
# ---------------------------------------------------------------------------------------------
def load_results(path: Path) -> dict:
    if path.exists():
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(path.read_text())
    return {"figures": {}}


def markdown_table(results: dict) -> str:
    lines = ["| # | figure | result | measured |", "|---|---|---|---|"]
    for key in sorted(results["figures"], key=int):
        f = results["figures"][key]
        when = f"{f['date']}, {machine_label(f['machine'])}, load {f.get('load_before', '?')}"
        if f.get("tiny"):
            when += ", TINY settings"
        result = f["result"].replace("|", "\\|")
        lines.append(f"| {key} | {f['title']} | {result} | {when} |")
    return "\n".join(lines)


def write_results(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    md = ["# Benchmark results", "",
          "Written by `make bench` (`python bench/run.py`); each row keeps the date and machine it was "
          "measured on. See `bench/run.py` for what each figure measures.", "",
          markdown_table(results), ""]
    for key in sorted(results["figures"], key=int):
        f = results["figures"][key]
        md += [f"## {key}. {f['title']}", "", f"{f['result']}", "",
               f"Measured {f['date']} in {f['seconds']:.0f} s on {machine_label(f['machine'])} "
               f"(Python {f['machine']['python']}, torch {f['machine']['torch']}, "
               f"1-min load average {f.get('load_before', '?')} at the start).", "",
               "```json", json.dumps(f.get("details", {}), indent=1)[:6000], "```", ""]
    (out / "results.md").write_text("\n".join(md))


def update_readme(results: dict, readme: Path = README) -> bool:
    """Rewrite the block between the bench markers of README.md; False when there is no block."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    block = (f"{START}\n" + markdown_table(results) +
             "\n\nMeasured with `make bench` (details: `bench/results.md`). Numbers depend on the machine "
             "and on its load at the time.\n" + END)
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, count=1, flags=re.S)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return True


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_only(text: str | None) -> list[int]:
    if not text:
        return sorted(FIGURES)
    chosen = sorted({int(x) for x in re.split(r"[,\s]+", text.strip()) if x})
    unknown = [k for k in chosen if k not in FIGURES]
    if unknown:
        raise SystemExit(f"bench: unknown figure(s) {unknown}; choose from {sorted(FIGURES)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(f"  {k}  {t}" for k, (t, _) in FIGURES.items()))
    parser.add_argument("--only", help="figures to measure, e.g. 3 or 2,3 (default: all)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny settings (seconds) to check that a figure runs; results go to "
                             f"{TINY_DIR.relative_to(ROOT)} and never to the README")
    parser.add_argument("--out", type=Path, help="results folder (default bench/, or build/bench/tiny with --tiny)")
    parser.add_argument("--data-dir", help="data cache with the real datasets ($COURSE_DATA_DIR)")
    parser.add_argument("--assignment", help="assignment of figure 4 (default: the first one)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite README.md's block")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["COURSE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    os.environ.setdefault("MPLBACKEND", "Agg")
    out = args.out or (TINY_DIR if args.tiny else BENCH_DIR)
    results = load_results(out / "results.json")
    info = machine()
    print(f"machine: {machine_label(info)}; 1-min load average {load_average()}", flush=True)
    failures = 0
    for key in parse_only(args.only):
        title, fn = FIGURES[key]
        print(f"[{key}] {title}{' (tiny settings)' if args.tiny else ''} ...", flush=True)
        load, start = load_average(), time.perf_counter()
        try:
            entry = fn(args)
        except Exception as err:  # noqa: BLE001 - one broken figure must not lose the others
            failures += 1
            entry = {"result": f"failed: {type(err).__name__}: {err}", "value": None}
        entry.update(title=title, date=dt.datetime.now().strftime("%Y-%m-%d %H:%M"), machine=info,
                     load_before=load, seconds=round(time.perf_counter() - start, 1), tiny=args.tiny)
        results["figures"][str(key)] = entry
        print(f"    {entry['result']}  ({entry['seconds']:.0f} s)", flush=True)
        write_results(results, out)  # after each figure, so a long run keeps what it measured
    print(f"\nresults: {out / 'results.md'} and results.json")
    if not args.tiny and not args.no_readme and out.resolve() == BENCH_DIR.resolve():
        if update_readme(results):
            print(f"README.md: rewrote the block between {START} and {END}")
        else:
            print(f"README.md has no {START} ... {END} block: left unchanged")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
