"""The fixture lab's "real-tool step": no namespace and no tool, only what the grader hands
a real step (the environment) written down as evidence, so the grader's tests can check
`netstack lab real` without depending on a real lab."""

import os
import sys

from labs.kit.real import Evidence

evidence = Evidence(lab=1)
evidence.write_text("environment.txt", "".join(
    f"{name}={os.environ.get(name, '')}\n"
    for name in ("LAB_IMPL_ARGS", "LAB_IMPL_KIND", "EVIDENCE", "PYTHON")))
evidence.check("the grader handed over the environment",
               bool(os.environ.get("PYTHON")) and bool(os.environ.get("EVIDENCE")))
sys.exit(evidence.save())
