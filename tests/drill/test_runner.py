"""The drill runner's own tests: a wrong, a missing, an early and a late packet each fail
with a clear message; an unsupported feature is reported, never passed; the profiles, the
blocking calls, %{ }%, sysctls, JUnit, pcap and the command line do what they say."""

from __future__ import annotations

import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from netstack.drill import cli
from netstack.drill.code import AssertionFailed, CodeUnsupported, run_block
from netstack.drill.parser import parse
from netstack.drill.report import write_junit, write_pcap
from netstack.drill.runner import Result, run_file
from netstack.drill.script import ScriptError
from netstack.engine.pcapfile import read_pcap

HANDSHAKE = """\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 257
+0  accept(3, ..., ...) = 4
"""


def run(tmp_path: Path, text: str, profile: str = "strict", name: str = "t.pkt") -> Result:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return run_file(path, profile)


def test_a_correct_script_passes(tmp_path):
    result = run(tmp_path, HANDSHAKE + "+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n")
    assert result.status == "pass", result.explain()
    assert any("> P. 1:11(10)" in line for line in result.transcript)


def test_a_wrong_outbound_segment_fails_naming_the_field(tmp_path):
    result = run(tmp_path, HANDSHAKE.replace("> S. 0:0(0) ack 1", "> S. 0:0(0) ack 2"))
    assert result.status == "fail"
    assert result.line == 6
    assert "ack is 1, wanted 2" in result.message
    assert "got:      > S. 0:0(0) ack 1" in result.message
    assert "^^^ ack is 1, wanted 2" in result.transcript[-1]  # the transcript ends at it


def test_wrong_flags_and_wrong_length_fail(tmp_path):
    flags = run(tmp_path, HANDSHAKE + "+0 write(4, ..., 10) = 10\n+0 > F. 1:11(10) ack 1\n")
    assert "flags are [P.], wanted [F.]" in flags.message
    length = run(tmp_path, HANDSHAKE + "+0 write(4, ..., 10) = 10\n+0 > P. 1:12(11) ack 1\n")
    assert "length is 10, wanted 11" in length.message


def test_a_missing_segment_fails(tmp_path):
    result = run(tmp_path, HANDSHAKE + "+0 > P. 1:11(10) ack 1\n")
    assert result.status == "fail" and result.line == 9
    assert result.message.startswith("missing packet: expected P. 1:11(10) ack 1 at 0.1000")


def test_an_early_segment_fails(tmp_path):
    result = run(tmp_path, HANDSHAKE + "+0 write(4, ..., 10) = 10\n+.05 > P. 1:11(10) ack 1\n")
    assert result.status == "fail"
    assert result.message.startswith("early packet: expected P. 1:11(10) ack 1 at 0.1500")
    assert "sent P. 1:11(10) ack 1 win" in result.message and "at 0.1000" in result.message


def test_a_late_segment_fails(tmp_path):
    # The first retransmission comes one RTO after the data: SRTT 100 ms + 4 x RTTVAR 50 ms.
    script = HANDSHAKE + ("+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
                          "+.1 > P. 1:11(10) ack 1\n")
    result = run(tmp_path, script)
    assert result.status == "fail" and result.line == 11
    assert result.message.startswith("late packet: expected P. 1:11(10) ack 1 at 0.2000")
    assert "at 0.4000" in result.message
    on_time = run(tmp_path, script.replace("+.1 > P.", "+.3 > P."))
    assert on_time.passed, on_time.explain()


def test_an_unexpected_segment_fails(tmp_path):
    # The script forgets the SYN-ACK and goes on 100 ms later.
    text = "\n".join(line for line in HANDSHAKE.splitlines() if "> S." not in line)
    result = run(tmp_path, text)
    assert result.status == "fail"
    assert result.message.startswith("unexpected packet: the stack sent S. 0:0(0) ack 1")


def test_a_wrong_return_value_or_errno_fails(tmp_path):
    nonblocking = HANDSHAKE + "+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
    result = run(tmp_path, nonblocking + "+0 read(4, ..., 10) = 0\n")
    assert result.status == "fail"
    assert result.message == "read() returned -1 EAGAIN, wanted 0"
    errno_wrong = run(tmp_path, HANDSHAKE + "+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                      "+0 read(4, ..., 10) = -1 ECONNRESET\n")
    assert "read() returned -1 EAGAIN, wanted -1 ECONNRESET" in errno_wrong.message


@pytest.mark.parametrize(("line", "feature"), [
    ("+0 < [ect0] S 0:0(0) win 100", "IP-level field [ect0]"),
    ("+0 < S 0:0(0) win 100 <FO abcd>", "TCP option 'FO'"),
    ("+0 < S 0:0(0) win 100 urg 5", "TCP field 'urg'"),
    ("+0 epoll_create(1) = 4", "system call epoll_create()"),
    ("+0 `sysctl -q net.ipv4.tcp_no_such_thing=1`", "sysctl net.ipv4.tcp_no_such_thing"),
    ("+0 `tc qdisc add dev tun0 root fq`", "command `tc qdisc add dev tun0 root fq`"),
    ("+0 %{ import os }%", "Import statement"),
    ("+0 %{ assert __import__('os') }%", "Call in %{ }%"),
    ("+0 setsockopt(4, SOL_SOCKET, SO_NO_SUCH, [1], 4) = 0", "constant SO_NO_SUCH"),
    ("+0 < sctp: INIT[]", "sctp packets"),
])
def test_an_unsupported_feature_is_reported_never_passed(tmp_path, line, feature):
    result = run(tmp_path, HANDSHAKE + line + "\n")
    assert result.status == "unsupported" and not result.passed
    assert result.message.startswith(f"unsupported: {feature}"), result.message
    assert result.line == 9


def test_an_unsupported_option_line_is_reported(tmp_path):
    result = run(tmp_path, "--wire_server_ip=192.0.2.9\n" + HANDSHAKE)
    assert (result.status, result.message, result.line) == (
        "unsupported", "unsupported: option --wire_server_ip", 1)
    ipv6 = run(tmp_path, "--ip_version=ipv6\n" + HANDSHAKE)
    assert ipv6.status == "unsupported" and "ipv6" in ipv6.message


def test_a_syntax_error_names_its_line(tmp_path):
    result = run(tmp_path, HANDSHAKE + "+0 < S 0:5(4) win 100\n")
    assert result.status == "error" and result.line == 9
    assert "the length is not end - start" in result.message


def test_the_rfc_profile_ignores_windows_and_option_order_but_not_sequence_numbers(tmp_path):
    other_stack = HANDSHAKE.replace(
        "> S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>",
        "> S. 0:0(0) ack 1 win 29200 <mss 1400,sackOK,nop,nop,nop,wscale 9>")
    strict = run(tmp_path, other_stack)
    assert strict.status == "fail" and "win is 65535, wanted 29200" in strict.message
    assert run(tmp_path, other_stack, "rfc").passed
    missing_option = other_stack.replace("mss 1400,sackOK,", "mss 1400,")
    result = run(tmp_path, missing_option, "rfc")
    assert result.status == "fail" and "wanted the kinds" in result.message
    wrong_ack = other_stack.replace("ack 1 win 29200", "ack 5 win 29200")
    assert "ack is 1, wanted 5" in run(tmp_path, wrong_ack, "rfc").message


def test_a_blocking_read_returns_when_the_data_comes(tmp_path):
    script = HANDSHAKE + ("0.2...0.5 read(4, ..., 10) = 10\n"
                          "0.5 < P. 1:11(10) ack 1 win 257\n"
                          "0.5 > . 1:1(0) ack 11\n")
    result = run(tmp_path, script)
    assert result.passed, result.explain()
    assert any("...read() returned 10" in line for line in result.transcript)
    wrong_end = run(tmp_path, script.replace("0.2...0.5", "0.2...0.3"))
    assert wrong_end.status == "fail"
    assert "read() returned at 0.5000, wanted at 0.3000" in wrong_end.message


def test_a_blocking_call_that_never_returns_fails(tmp_path):
    result = run(tmp_path, HANDSHAKE + "+0 read(4, ..., 10) = 10\n")
    assert result.status == "fail" and "read() never returned" in result.message


def test_poll_with_a_timeout_waits_in_virtual_time(tmp_path):
    script = HANDSHAKE + ("+0...0.4 poll([{fd=4, events=POLLIN, revents=0}], 1, 300) = 0\n"
                          "+0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n")
    result = run(tmp_path, script)
    assert result.passed, result.explain()
    assert any(line.startswith("   0.4000") and "poll() returned 0" in line
               for line in result.transcript)


def test_code_blocks_assert_tcp_info_values(tmp_path):
    ok = run(tmp_path, HANDSHAKE + "+0 %{ assert tcpi_state == TCP_ESTABLISHED and "
             "tcpi_snd_mss == 1000\nprint(tcpi_snd_mss, 'bytes') }%\n")
    assert ok.passed, ok.explain()
    assert ok.transcript[-1].endswith("[1000 bytes]")
    bad = run(tmp_path, HANDSHAKE + "+0 %{\nassert tcpi_snd_mss == 1460, 'mss'\n}%\n")
    assert bad.status == "fail"
    assert bad.message == "assert tcpi_snd_mss == 1460 is false (tcpi_snd_mss = 1000; mss)"


def test_the_expression_subset_refuses_everything_else():
    names = {"tcpi_rto": 200000}
    run_block("assert tcpi_rto // 1000 == 200; assert 1 < 2 <= 2", names)
    with pytest.raises(AssertionFailed):
        run_block("assert not tcpi_rto", names)
    for source in ("x = 1", "assert tcpi_rto.real", "assert [].__class__",
                   "assert (lambda: 1)()", "assert open", "for i in 1: pass",
                   "print(open('x'))", "exec('1')", "print(x=1)"):
        with pytest.raises(CodeUnsupported):
            run_block(source, names)


def test_a_sysctl_sets_the_matching_tunable(tmp_path):
    script = ("0 `sysctl -q net.ipv4.tcp_sack=0`\n" + HANDSHAKE).replace(
        "<mss 1460,nop,nop,sackOK,nop,wscale 7>", "<mss 1460,nop,wscale 7>")
    result = run(tmp_path, script)
    assert result.passed, result.explain()
    assert "net.ipv4.tcp.sack=False" in result.transcript[0]


def test_one_seed_gives_one_run(tmp_path):
    script = HANDSHAKE + "+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
    assert run(tmp_path, script).frames == run(tmp_path, script).frames


def test_junit_and_the_pcap_of_a_failure(tmp_path):
    good = run(tmp_path, HANDSHAKE, name="good.pkt")
    bad = run(tmp_path, HANDSHAKE + "+0 > P. 1:11(10) ack 1\n", name="bad.pkt")
    unsupported = run(tmp_path, HANDSHAKE + "+0 epoll_create(1) = 4\n", name="uns.pkt")
    junit = tmp_path / "junit.xml"
    write_junit([good, bad, unsupported], junit, "strict")
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None
    assert cases[1].find("failure").get("message").startswith("missing packet")
    assert cases[2].find("error").get("type") == "unsupported"
    pcap = write_pcap(bad, tmp_path / "pcaps")
    frames = list(read_pcap(str(pcap)))
    assert len(frames) == len(bad.frames) >= 3  # gratuitous ARP, SYN, SYN-ACK, ACK


def test_the_command_line(tmp_path, capsys):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.pkt").write_text(HANDSHAKE)
    assert cli.main([str(tmp_path / "ok")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    (tmp_path / "bad.pkt").write_text(HANDSHAKE + "+0 > P. 1:11(10) ack 1\n")
    pcaps = tmp_path / "pcaps"
    assert cli.main([str(tmp_path / "bad.pkt"), "--pcap-dir", str(pcaps),
                     "--junit", str(tmp_path / "j.xml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "missing packet" in out and "pcap:" in out
    assert list(pcaps.glob("*.pcap")) and (tmp_path / "j.xml").exists()
    (tmp_path / "uns.pkt").write_text(HANDSHAKE + "+0 epoll_create(1) = 4\n")
    assert cli.main([str(tmp_path / "uns.pkt")]) == 1
    assert "UNSUPPORTED" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        cli.main([str(tmp_path / "no-such.pkt")])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:
        cli.main(["--profile", "lenient", str(tmp_path / "bad.pkt")])
    assert usage.value.code == 2


def test_the_parser_reads_packetdrill_times_and_comments():
    script = parse(textwrap.dedent("""\
        --tolerance_usecs=10000
        /* a comment
           over lines */
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3  // the first socket
        +.1 bind(3, ..., ...) = 0
        * > S 0:0(0) <...>
        0.1~0.3 > . 1:1(0) ack 1
        0.2...0.4 read(3, ..., 1) = 1
        """))
    assert script.options == {"tolerance_usecs": "10000"}
    events = script.events
    assert [e.line for e in events] == [4, 5, 6, 7, 8]
    assert events[1].when.start.relative and events[1].when.start.value == 0.1
    assert events[2].when.start is None
    assert (events[3].when.start.value, events[3].when.end.value) == (0.1, 0.3)
    assert (events[4].when.start.value, events[4].when.returns.value) == (0.2, 0.4)
    with pytest.raises(ScriptError, match="bad time"):
        parse("0.x socket(..., SOCK_STREAM, IPPROTO_TCP) = 3")
    with pytest.raises(ScriptError, match="never closed"):
        parse("0 %{ assert 1\n")


def test_an_errno_name_is_a_value_in_an_option(tmp_path):
    # packetdrill writes SO_ERROR's value as an errno name; a wrong one fails.
    script = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
              "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
              "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
              "+0 > S 0:0(0) <...>\n"
              "+.1 < R. 0:0(0) ack 1 win 0\n"
              "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [{}], [4]) = 0\n")
    assert run(tmp_path, script.format("ECONNREFUSED")).passed
    wrong = run(tmp_path, script.format("ECONNRESET"))
    assert wrong.status == "fail" and "wanted [104]" in wrong.message, wrong.message


def test_errno_aliases_compare_by_number(tmp_path):
    # EWOULDBLOCK is EAGAIN on Linux: a script may write either; a different errno fails.
    script = HANDSHAKE + ("+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                          "+0 read(4, ..., 10) = -1 {} (Resource temporarily unavailable)\n")
    assert run(tmp_path, script.format("EWOULDBLOCK")).passed
    assert run(tmp_path, script.format("EAGAIN")).passed
    assert run(tmp_path, script.format("EINTR")).status == "fail"


def test_connect_on_a_udp_socket_sets_the_destination(tmp_path):
    script = ("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n"
              "+0 connect(3, ..., ...) = 0\n"
              "+0 write(3, ..., 25) = 25\n"
              "+0 > udp (25)\n")
    assert run(tmp_path, script).passed
    assert run(tmp_path, script.replace("> udp (25)", "> udp (24)")).status == "fail"


def test_an_icmp_error_quotes_the_port_an_unbound_udp_socket_used(tmp_path):
    # The stack picks the port of a connected, unbound UDP socket; the runner learns it from
    # the datagram, so the error reaches the socket (without it recv() would say EAGAIN).
    script = ("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n"
              "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
              "+0 connect(3, ..., ...) = 0\n"
              "+0 write(3, ..., 25) = 25\n"
              "+0 > udp (25)\n"
              "+0 < icmp unreachable port_unreachable [udp (25)]\n"
              "+0 recv(3, ..., 100, 0) = -1 ECONNREFUSED (Connection refused)\n")
    result = run(tmp_path, script)
    assert result.passed, result.explain()


def test_a_star_line_after_a_blocking_call_takes_what_the_call_sent(tmp_path):
    script = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
              "+0...0.1 connect(3, ..., ...) = 0\n"
              "* > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>\n"
              "0.1 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 700 ecr 100,nop,wscale 7>\n"
              "* > . 1:1(0) ack 1 <nop,nop,TS val 150 ecr 700>\n")
    result = run(tmp_path, script)
    assert result.passed, result.explain()
    assert "...connect() returned 0" in result.transcript[4]
