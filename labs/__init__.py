"""The netstack course: labs in which students build the stack one unit at a time.

Each lab folder (`labs/00` ... `labs/10`) replaces one unit while the reference supplies
every other layer; `labs/kit` is what the lab tests are written with, and `netstack lab`
(or `python -m labs`) is the grader. labs/README.md is where a student starts.
"""
