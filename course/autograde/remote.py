"""Reaching the learner's objects in their kernel, from the trusted grader.

``Remote(session, "affine_backward")`` stands for the object of that name in the student's
kernel. A check (``course.grading``) calls it only through a probe
(``course.grading.core.invoke`` -> ``Remote.__course_invoke__``): the session writes the request
(probe, inputs, time limit; a ``Remote`` among the inputs, a second learner object, goes as its
name) into the job's exchange folder, asks the kernel to run
``course.grading.probes.serve`` on it (the grading kernel's ``course_probe_request`` message,
``course.kernels.grading``; a silent execute request to any other kernel), waits for
the reply within the time limit and reads the answer back with ``course.grading.wire``
(numbers of whitelisted dtypes under a JSON header, size-capped: nothing is unpickled). The
answer is data; the check scores it.

Whatever the kernel does, the worst it can do is answer wrongly, hang (the call is interrupted
and counts as a timeout), or die (the session notes it; the executor restarts the kernel).

Used by: ``course.autograde.execute``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from course import check
from course.grading import wire

GRACE = 10.0     # seconds beyond the learner's time limit before the grader interrupts the kernel
KINDS = {"ok", "error", "not_implemented", "timeout", "exit", "interrupted"}


class KernelSession:
    """The grader's line to one running kernel (the executor's client) for one notebook."""

    def __init__(self, executor, exchange: str | os.PathLike):
        self.executor = executor
        self.exchange = Path(exchange)
        self.dead: str | None = None      # why the kernel can no longer be used, once it can't
        self.calls = 0

    def invoke(self, target: str, probe: str, args: tuple, kwargs: dict, timeout: float) -> check.Outcome:
        """Run ``probe`` on the kernel's object ``target``; the outcome holds plain data."""
        from nbclient.exceptions import DeadKernelError

        if self.dead:
            return check.Outcome(error=f"was not run: {self.dead}", kind="error")
        self.calls += 1
        request, response = self.exchange / "request.bin", self.exchange / "response.bin"
        response.unlink(missing_ok=True)
        # a second learner object among the inputs (a backward pass beside its forward pass)
        # travels as its name; the kernel looks it up (``course.grading.probes.serve``)
        learners = [[i, a._name] for i, a in enumerate(args) if isinstance(a, Remote)]
        args = [None if isinstance(a, Remote) else a for a in args]
        request.write_bytes(wire.pack({"probe": probe, "target": target, "args": args, "learners": learners,
                                       "kwargs": dict(kwargs), "timeout": float(timeout)}))
        os.chmod(request, 0o644)
        ex = self.executor
        saved = ex.timeout
        ex.timeout = int(timeout + GRACE)
        try:
            reply = ex.wait_for_reply(self._send(str(request), str(response)))
        except DeadKernelError:
            self.dead = "the kernel died while running your code (os._exit, a crash or the memory limit)"
            return check.Outcome(error=self.dead, kind="error")
        finally:
            ex.timeout = saved
        if reply is None:                               # no reply in time: it was interrupted
            if not ex.responsive():
                self.dead = "the kernel stopped answering after your code ran into the time limit"
            return check.Outcome(error=f"took longer than {timeout:g} s (an endless loop?)", kind="timeout")
        try:
            size = response.stat().st_size
            if size > wire.MAX_BYTES:
                raise wire.WireError(f"an answer of {size >> 20} MiB is too large")
            answer = wire.unpack(response.read_bytes())
            kind = answer["kind"] if answer.get("kind") in KINDS else "error"
            error = answer.get("error")
            warnings = [str(w)[:300] for w in answer.get("warnings") or []][:5]
        except FileNotFoundError:
            return check.Outcome(error="could not be run: the kernel did not answer the grader (was "
                                       "`course`, `__import__` or `globals` changed in the notebook?)", kind="error")
        except Exception as err:  # noqa: BLE001 - a corrupt answer is the kernel's problem
            return check.Outcome(error=f"gave an answer the grader could not read ({err})", kind="error")
        return check.Outcome(value=answer.get("value"), error=None if kind == "ok" else str(error or kind),
                             kind=kind, warnings=warnings)

    def _send(self, request: str, response: str) -> str:
        """Ask the kernel to run ``serve`` on the request; the id of the message to wait for. The
        grading kernel takes a message of its own (``course.kernels.grading``); any other kernel
        gets the call as code, a silent cell."""
        from course.kernels import PROBE_MSG

        kc = self.executor.kc
        if getattr(self.executor, "_kernel_info", {}).get("course_probes"):
            msg = kc.session.msg(PROBE_MSG, {"request": request, "response": response})
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]
        code = (f"__import__('course.grading.probes', fromlist=['serve']).serve(globals(), "
                f"{request!r}, {response!r})")
        return kc.execute(code, silent=True, store_history=False, allow_stdin=False)


class Remote:
    """The learner's object ``name`` in the kernel of ``session`` (see the module docstring)."""

    def __init__(self, session: KernelSession, name: str):
        self._session = session
        self._name = name

    def __course_invoke__(self, probe: str, args: tuple, kwargs: dict, timeout: float) -> check.Outcome:
        return self._session.invoke(self._name, probe, args, kwargs, timeout)

    def __course_key__(self) -> Any:
        return ("remote", self._name)

    def __repr__(self) -> str:
        return f"<{self._name} in the student's kernel>"
