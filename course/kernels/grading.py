"""The grading kernel's one addition to IPython's kernel: a message that runs a check's probe.

The trusted grader asks the student's kernel dozens of times per notebook to run a probe
(``course.grading.probes.serve``: one call of the learner's function, the answer written as
data). Sent as code, an ``execute_request``, each probe pays for IPython's whole cell machinery
(input transformers, compiling, history, the display hook, flushing output) around one function
call: about 8 ms of the kernel's CPU. ``GradingKernel`` also takes a ``course_probe_request``
message, whose content names the request and response files in the job's exchange folder, and
calls ``serve`` on the user namespace directly; it answers ``course_probe_reply``
(``{"status": "ok"}``). The request is handled like any shell request: one at a time, with the
kernel busy meanwhile, and an interrupt (SIGINT) reaches the learner's code. Its kernel_info
reply says ``"course_probes": 1``; the grader sends code to any other kernel.

Nothing here is trusted: the student's code runs in this kernel and can replace the handler, as
it can replace ``serve``; the grader only ever reads data back (``course.autograde.remote``).

Used by: the grading kernel (``launcher``, and ``zygote`` for the parallel grader's slots, start
IPython with ``--IPKernelApp.kernel_class=course.kernels.grading.GradingKernel``) and
``course.autograde.remote``.
"""
from __future__ import annotations

from ipykernel.ipkernel import IPythonKernel

from course.kernels import PROBE_MSG


class GradingKernel(IPythonKernel):
    msg_types = [*IPythonKernel.msg_types, PROBE_MSG]

    @property
    def kernel_info(self):
        return {**super().kernel_info, "course_probes": 1}

    def course_probe_request(self, stream, ident, parent) -> None:
        from course.grading.probes import serve

        content = parent["content"]
        try:
            serve(self.shell.user_ns, str(content["request"]), str(content["response"]))
            reply = {"status": "ok"}
        except Exception as err:  # noqa: BLE001 - the grader reads "no answer" and says so
            reply = {"status": "error", "ename": type(err).__name__, "evalue": str(err)}
        self.session.send(stream, "course_probe_reply", reply, parent, ident)
