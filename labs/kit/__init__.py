"""What lab tests are written with: the variant (public or hidden), stacks made with the
student's units, and a harness that gives each step a CPU budget and shows the student's
own output under the step that printed it."""

from labs.kit.stack import LabHarness, graded_impl, make_harness, make_stack, student_module
from labs.kit.variant import Variant, current_variant

__all__ = ["LabHarness", "Variant", "current_variant", "graded_impl", "make_harness",
           "make_stack", "student_module"]
