"""The mahimahi command-line adapter: a published mahimahi setup becomes the same LinkSpecs."""

from __future__ import annotations

import pytest

from netstack.errors import ConfigError
from netstack.sim.link.spec import LinkSpec, LossSpec, QueueSpec, RateSpec
from netstack.sim.mahimahi.command import parse_mm_command, shell_quote

SHIPPED_12 = "12mbps.trace"  # a shipped trace is named by its bare name (portable hashes)


@pytest.fixture
def traces(tmp_path):
    (tmp_path / "up.trace").write_text("1\n2\n3\n")
    (tmp_path / "down.trace").write_text("1\n1\n2\n")
    return tmp_path


def test_pantheon_style_command_gives_a_30ms_link_with_a_45kB_droptail_uplink():
    setup = parse_mm_command("mm-delay 30 mm-link 12mbps.trace 12mbps.trace "
                             "--uplink-queue=droptail --uplink-queue-args=bytes=45000")
    assert setup.uplink == LinkSpec(
        rate=RateSpec(kind="trace", trace=SHIPPED_12, once=False),
        queue=QueueSpec(kind="droptail", bytes=45000, packets=None),
        delay=0.030)
    assert setup.downlink == LinkSpec(
        rate=RateSpec(kind="trace", trace=SHIPPED_12, once=False),
        queue=QueueSpec(kind="infinite"), delay=0.030)
    assert setup.notes == []
    assert setup.uplink_trace == setup.downlink_trace == "12mbps.trace"
    # what mm-link's log would carry in its headers
    assert setup.link_command_line == ("'mm-link' '12mbps.trace' '12mbps.trace' "
                                       "'--uplink-queue=droptail' "
                                       "'--uplink-queue-args=bytes=45000'")
    assert setup.shell_prefix == "[delay 30 ms] "


def test_loss_delay_once_and_codel_downlink(traces):
    setup = parse_mm_command(
        'mm-loss uplink 0.01 mm-delay 20 mm-link up.trace down.trace --once '
        '--downlink-queue=codel --downlink-queue-args="packets=100,target=5,interval=100"',
        base_dir=traces)
    assert setup.uplink == LinkSpec(
        rate=RateSpec(kind="trace", trace=str(traces / "up.trace"), once=True),
        queue=QueueSpec(kind="infinite"), delay=0.020, loss=LossSpec(kind="iid", p=0.01))
    assert setup.downlink == LinkSpec(
        rate=RateSpec(kind="trace", trace=str(traces / "down.trace"), once=True),
        queue=QueueSpec(kind="codel", packets=100, target=0.005, interval=0.100),
        delay=0.020)
    # the uplink loss sits outside mm-link: after its queue, as netstack's stages run
    assert setup.notes == []
    assert setup.shell_prefix == "[loss up=0.01] [delay 20 ms] "


def test_an_argv_list_reads_the_same_as_the_text(traces):
    text = "mm-delay 5 mm-link up.trace down.trace --uplink-queue=drophead " \
           "--uplink-queue-args=packets=10"
    assert parse_mm_command(text.split(), base_dir=traces) == \
        parse_mm_command(text, base_dir=traces)


def test_options_read_as_gnu_getopt_reads_them(traces):
    setup = parse_mm_command(
        ["mm-link", "--uplink-queue", "drophead", "up.trace", "--uplink-queue-args",
         "bytes=3000, packets=2", "down.trace", "--onc", "-u", "up.log", "-ddown.log",
         "mm-delay", "10", "--meter-all"], base_dir=traces)
    assert setup.uplink.queue == QueueSpec(kind="drophead", bytes=3000, packets=2)
    assert setup.uplink.rate.once and setup.downlink.rate.once  # --onc: a unique prefix
    assert (setup.uplink_log, setup.downlink_log) == ("up.log", "down.log")
    assert setup.uplink.delay == setup.downlink.delay == 0.010  # the shell inside mm-link
    assert any("--meter-all" in note for note in setup.notes)
    assert setup.shell_prefix is None  # mm-link is the outermost shell


def test_pie_keeps_qdelay_ref_and_notes_max_burst(traces):
    setup = parse_mm_command("mm-link up.trace down.trace --downlink-queue=pie "
                             "--downlink-queue-args=bytes=30000,qdelay_ref=15,max_burst=100",
                             base_dir=traces)
    assert setup.downlink.queue == QueueSpec(kind="pie", bytes=30000, target=0.015,
                                             interval=0.030)
    assert any("max_burst=100" in note for note in setup.notes)


def test_nested_delays_add_and_losses_combine(traces):
    setup = parse_mm_command("mm-delay 10 mm-loss downlink 0.1 mm-delay 15 mm-loss downlink "
                             "0.2 mm-link up.trace down.trace", base_dir=traces)
    assert setup.uplink.delay == setup.downlink.delay == 0.025
    assert setup.downlink.loss.kind == "iid"
    assert setup.downlink.loss.p == pytest.approx(1 - 0.9 * 0.8)
    assert setup.uplink.loss == LossSpec()
    assert any("combine" in note for note in setup.notes)
    # downlink loss outside mm-link drops before the queue in mahimahi: said in a note
    assert any(note.startswith("downlink: mahimahi drops") for note in setup.notes)


def test_uplink_loss_inside_the_link_is_noted(traces):
    setup = parse_mm_command("mm-link up.trace down.trace mm-loss uplink 0.05", base_dir=traces)
    assert setup.uplink.loss == LossSpec(kind="iid", p=0.05)
    assert any(note.startswith("uplink: mahimahi drops") for note in setup.notes)


def test_a_trailing_program_is_ignored_with_a_note(traces):
    setup = parse_mm_command("mm-delay 30 mm-link up.trace down.trace -- bash -c 'iperf -s'",
                             base_dir=traces)
    assert setup.uplink.delay == 0.030
    assert setup.notes == ["command \"bash -c 'iperf -s'\" ignored: netstack runs the "
                           "scenario's applications instead"]


def test_delay_and_loss_alone_leave_the_rate_unlimited():
    setup = parse_mm_command("mm-delay 40 mm-loss uplink 0")
    assert setup.uplink == LinkSpec(delay=0.040)
    assert setup.downlink == LinkSpec(delay=0.040)
    assert any("no mm-link" in note for note in setup.notes)


def test_a_file_under_base_dir_wins_over_the_shipped_trace(tmp_path):
    (tmp_path / "12mbps.trace").write_text("2\n4\n")
    setup = parse_mm_command("mm-link 12mbps.trace 12mbps.trace", base_dir=tmp_path)
    assert setup.uplink.rate.trace == str(tmp_path / "12mbps.trace")
    assert parse_mm_command("mm-link 12mbps.trace 12mbps.trace").uplink.rate.trace == SHIPPED_12


def test_a_full_path_to_the_shell_is_accepted(traces):
    setup = parse_mm_command("/usr/local/bin/mm-delay 7 /usr/local/bin/mm-link up.trace "
                             "down.trace", base_dir=traces)
    assert setup.uplink.delay == 0.007


def test_log_headers_come_from_the_command(traces, tmp_path):
    setup = parse_mm_command("mm-delay 30 mm-link up.trace down.trace "
                             "--downlink-queue=droptail --downlink-queue-args=packets=100",
                             base_dir=traces)
    path = tmp_path / "down.log"
    with setup.log(path, "downlink"):
        pass
    assert path.read_text() == (
        "# mahimahi mm-link (Downlink) [down.trace] > down.log\n"
        "# command line: 'mm-link' 'up.trace' 'down.trace' '--downlink-queue=droptail' "
        "'--downlink-queue-args=packets=100'\n"
        "# queue: droptail [packets=100]\n"
        "# init timestamp: 0\n"
        "# base timestamp: 0\n"
        "# mahimahi config: [delay 30 ms] \n")


def test_the_log_names_the_file_the_command_gave(traces, tmp_path):
    setup = parse_mm_command("mm-link up.trace down.trace --uplink-log=logs/uplink.txt",
                             base_dir=traces)
    path = tmp_path / "bottleneck.up.log"
    setup.log(path, "uplink").close()
    assert path.read_text().startswith("# mahimahi mm-link (Uplink) [up.trace] > "
                                       "logs/uplink.txt\n")


def test_shell_quote_escapes_single_quotes_as_mm_link_does():
    assert shell_quote("it's") == "'it'\\''s'"


BAD_COMMANDS = [
    ("", "empty"),
    ("mm-delay 30 'mm-link", "cannot split"),
    ("bash", "'bash' is not a mahimahi shell"),
    ("mm-frobnicate 3", "unknown shell 'mm-frobnicate'"),
    ("mm-onoff uplink 1 1", "mm-onoff is not supported"),
    ("mm-meter", "mm-meter is not supported"),
    ("mm-delay", "mm-delay: missing DELAY-MS"),
    ("mm-delay 2.5 mm-link up.trace down.trace", "'2.5'"),
    ("mm-delay -3", "'-3'"),
    ("mm-loss sideways 0.1", "'sideways'"),
    ("mm-loss", "missing 'uplink' or 'downlink'"),
    ("mm-loss uplink", "missing RATE"),
    ("mm-loss uplink 1.5", "'1.5'"),
    ("mm-loss uplink lots", "'lots'"),
    ("mm-link", "missing UPLINK-TRACE"),
    ("mm-link up.trace", "missing DOWNLINK-TRACE"),
    ("mm-link up.trace down.trace --bogus", "unknown option --bogus"),
    ("mm-link up.trace down.trace --uplink", "--uplink is ambiguous"),
    ("mm-link up.trace down.trace --once=yes", "--once takes no value"),
    ("mm-link up.trace down.trace --uplink-queue", "--uplink-queue needs a value"),
    ("mm-link up.trace down.trace -u", "-u needs a value"),
    ("mm-link up.trace down.trace sh -c x", "unknown option '-c'"),
    ("mm-link up.trace down.trace --uplink-queue=red", "unknown queue type 'red'"),
    ("mm-link up.trace down.trace --uplink-queue=droptail", "needs a limit"),
    ("mm-link up.trace down.trace --uplink-queue=droptail --uplink-queue-args=bytes=lots",
     "'bytes=lots' is not NAME=NUMBER"),
    ("mm-link up.trace down.trace --uplink-queue=droptail --uplink-queue-args=bytes=1.5",
     "'bytes=1.5' is not NAME=NUMBER"),
    ("mm-link up.trace down.trace --uplink-queue=droptail --uplink-queue-args=size=5",
     "unknown argument 'size'"),
    ("mm-link up.trace down.trace --uplink-queue=droptail "
     "--uplink-queue-args=bytes=5,bytes=6", "bytes given twice"),
    ("mm-link up.trace down.trace --downlink-queue=codel "
     "--downlink-queue-args=packets=100,target=5", "needs interval=N"),
    ("mm-link up.trace down.trace --downlink-queue=codel "
     "--downlink-queue-args=packets=100,target=0,interval=100", "needs target=N"),
    ("mm-link up.trace down.trace --uplink-queue=pie "
     "--uplink-queue-args=packets=100,qdelay_ref=15", "needs max_burst=N"),
    ("mm-link up.trace down.trace --uplink-queue-args=packets=100", "takes no arguments"),
    ("mm-link up.trace missing.trace", "DOWNLINK-TRACE: trace file 'missing.trace' not found"),
    ("mm-link bad.trace down.trace", "bad.trace line 2"),
    ("mm-link up.trace down.trace mm-link up.trace down.trace", "mm-link given twice"),
]


@pytest.mark.parametrize("command, words", BAD_COMMANDS)
def test_a_bad_command_gets_one_line_naming_the_wrong_word(traces, command, words):
    (traces / "bad.trace").write_text("5\n3\n")
    with pytest.raises(ConfigError) as caught:
        parse_mm_command(command, base_dir=traces)
    message = str(caught.value)
    assert "\n" not in message
    assert words in message
