"""The grader behind `netstack lab`: it runs a lab's tests on a student's work folder in a
subprocess (never importing the student's code itself), and turns what the tests report
into a readable check, Gradescope's results.json, JUnit XML, and a Gradescope package.

    workfolder.py   the student's folder: which files, which units, the environment
    importcheck.py  refuse a student file that imports the reference it replaces
    plugin.py       the pytest plugin loaded in the subprocess: one record per test, pcaps
    runner.py       runs the subprocess (with a wall-clock limit) and reads the records
    report.py       what a student reads: failures with their transcripts, the summary
    results.py      Gradescope's results.json, and a validator for it
    evidence.py     offline verification of a real-tool step's evidence folder
    package.py      the Gradescope autograder zip
"""
