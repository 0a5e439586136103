"""`ss -i`'s tokens from TCP_INFO: the patterns iproute2 prints, from a live connection."""

import re

from netstack.ctl.ss_format import ss_info_line, ss_info_tokens
from tests.stages.tcp.test_tcp_info import Scenario


def transfer_with_one_loss():
    s = Scenario()
    s.drop_seq = s.data_seq(2)  # the link loses the third segment once
    data = s.send(20)
    s.run_until_delivered(len(data))
    return len(data), s.info()


def test_the_tokens_are_iproute2s():
    _, info = transfer_with_one_loss()
    line = ss_info_line(info)
    assert line.startswith("\t newreno wscale:")
    for pattern in (r" rto:[\d.]+ ", r" rtt:[\d.]+/[\d.]+ ", r" mss:\d+ ", r" cwnd:\d+ ",
                    r" ssthresh:\d+ ", r" bytes_acked:\d+ ", r" segs_out:\d+ ",
                    r" retrans:\d+/\d+ ", r" send [\d.]+[KMG]?bps ", r" minrtt:[\d.]+ "):
        assert re.search(pattern, line + " "), f"{pattern!r} not in {line!r}"


def test_the_values_are_tcp_infos_in_ss_units():
    sent, info = transfer_with_one_loss()
    tokens = dict(t.split(":", 1) for t in ss_info_tokens(info.as_dict()) if ":" in t)
    assert float(tokens["rto"]) == info.tcpi_rto / 1000  # ms
    rtt, rttvar = (float(x) for x in tokens["rtt"].split("/"))
    assert (rtt, rttvar) == (info.tcpi_rtt / 1000, info.tcpi_rttvar / 1000)
    assert int(tokens["bytes_acked"]) == info.tcpi_bytes_acked == sent
    assert tokens["retrans"] == f"0/{info.tcpi_total_retrans}" and info.tcpi_total_retrans >= 1
    assert tokens["wscale"] == f"{info.tcpi_snd_wscale},{info.tcpi_rcv_wscale}"


def test_a_fresh_connection_leaves_out_what_it_has_not_seen():
    info = Scenario().info()
    tokens = ss_info_tokens(info)
    assert not any(t.startswith(("ssthresh:", "retrans:", "bytes_acked:", "backoff:"))
                   for t in tokens), tokens
