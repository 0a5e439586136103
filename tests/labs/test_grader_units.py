"""The grader's pieces on their own: the import check and the results.json validator."""

import ast

from labs.grader.importcheck import imported_names, refusals, replaced_by
from labs.grader.results import leaderboard_entries, result_item, results, validate
from labs.kit.labfile import Lab

ARP_LAB = Lab(number=2, title="ARP", hours=6, folder="/nowhere",
              units={"arp": "arp:ArpStage"}, modules={"webget": "labs.reference.webget"},
              starter={"arp.py": "netstack/stages/arp.py", "webget.py": "labs/ref/webget.py"})


def test_each_file_is_forbidden_the_references_it_replaces():
    assert replaced_by(ARP_LAB, "arp.py") == {"netstack.stages.arp"}
    assert replaced_by(ARP_LAB, "webget.py") == {"labs.ref.webget", "labs.reference.webget"}


def test_every_way_of_importing_a_module_is_seen():
    source = ("import netstack.stages.arp\n"
              "from netstack.stages import arp\n"
              "from netstack.stages.arp import ArpStage\n"
              "import importlib\n"
              "m = importlib.import_module('netstack.stages.arp')\n"
              "n = __import__('netstack.stages.arp')\n"
              "from . import sibling\n")
    found = [(line, name) for line, name in imported_names(ast.parse(source))
             if name == "netstack.stages.arp"]
    assert [line for line, _ in found] == [1, 2, 3, 5, 6]


def test_refusals_name_file_line_and_module(tmp_path):
    (tmp_path / "arp.py").write_text("import os\nfrom netstack.stages.arp import ArpStage\n")
    # Another file of the lab may not use it either (its starter does not import it).
    (tmp_path / "webget.py").write_text("from netstack.stages.arp import ArpStage\n")
    assert refusals(str(tmp_path), [ARP_LAB]) == [
        "arp.py:2: imports netstack.stages.arp, the reference this file replaces; write it "
        "yourself and remove that import",
        "webget.py:1: imports netstack.stages.arp, a reference another file of this lab "
        "replaces; import your own file instead"]


def test_an_import_the_starter_makes_on_purpose_is_allowed(tmp_path):
    """Lab 6's receiver.py imports the reference Seq (the stack keeps it) though seq.py is
    a student file too; lab 8's connection.py may not import the reference segment_arrives."""
    from labs.kit.labfile import load_lab
    from labs.kit.starter import starter_files

    lab6, lab8 = load_lab(6), load_lab(8)
    for lab, folder in ((lab6, tmp_path / "six"), (lab8, tmp_path / "eight")):
        folder.mkdir()
        for name, text in starter_files(lab).items():
            (folder / name).write_text(text)
    assert refusals(str(tmp_path / "six"), [lab6]) == []
    assert refusals(str(tmp_path / "eight"), [lab8]) == []
    cheat = (tmp_path / "eight" / "connection.py").read_text().replace(
        "from segment_arrives import process", "from netstack.stages.tcp.segment_arrives import process")
    (tmp_path / "eight" / "connection.py").write_text(cheat)
    assert [p.split(":")[0] for p in refusals(str(tmp_path / "eight"), [lab8])] == ["connection.py"]


def test_results_built_here_are_valid():
    record = results([result_item("1.1", "a", True, "ok"), result_item("1.2", "b", False, "no")],
                     "out", leaderboard_entries([{"name": "x", "value": 2, "order": "asc"}]))
    assert validate(record) == []
    assert record["score"] == 1 and record["extra_data"]["max_score"] == 2


def test_the_validator_rejects_what_gradescope_does_not_document():
    bad = {"score": "10", "max_score": 3, "output_format": "rtf",
           "tests": [{"score": 2, "max_score": 1, "status": "ok", "number": 1}],
           "leaderboard": [{"name": "x"}, {"name": "y", "value": 1, "order": "up"}]}
    problems = validate(bad)
    for expected in ("results: score has the wrong type", "results: unknown field 'max_score'",
                     "output_format 'rtf'", "tests[0]: status 'ok'", "tests[0]: score above",
                     "tests[0]: number has the wrong type", "leaderboard[0]: needs a name",
                     "leaderboard[1]: order must be"):
        assert any(expected in p for p in problems), (expected, problems)


def test_leaderboard_keeps_the_last_value_of_each_name_and_drops_bad_lines():
    lines = [{"name": "t", "value": 1}, {"name": "t", "value": 3, "order": "desc"},
             {"name": "bad", "value": "fast"}, {"value": 2}, {"name": "b", "value": True}]
    assert leaderboard_entries(lines) == [{"name": "t", "value": 3, "order": "desc"}]
