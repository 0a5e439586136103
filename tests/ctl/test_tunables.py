"""The sysctl tree: every tunable typed, described and ranged; set, get, then the effect."""

import dataclasses

import pytest

from netstack.ctl.tunables import TUNABLES, find, get_value, parse_value, set_value
from netstack.errors import ConfigError
from netstack.stack import StackConfig
from netstack.stages.tcp.config import TcpConfig
from netstack.stages.tcp.info import tcp_info
from netstack.testing import icmp_echo_frame, icmp_echo_reply
from tests.stages.common import OUR_MAC, PEER_IP, PEER_MAC, make_harness
from tests.stages.tcp.support import B_IP, Link, two_stacks


def test_every_simple_config_field_is_a_described_tunable_or_said_not_to_be():
    from netstack.ctl.tunables import NOT_TUNABLE

    for cls, prefix in ((StackConfig, "net.ipv4."), (TcpConfig, "net.ipv4.tcp.")):
        for f in dataclasses.fields(cls):
            if f.name in NOT_TUNABLE and cls is StackConfig:
                continue
            if f.type in ("bool", "int", "float", "str"):
                tunable = TUNABLES[prefix + f.name]
                assert tunable.description, f"{tunable.name} has no comment on its field"
                assert get_value(make_harness().stack, tunable) == f.default


def test_a_new_connection_uses_the_congestion_control_set_and_an_old_one_keeps_its_own():
    a, b = two_stacks()
    link = Link(a, b)
    b.tcp.listen(None, 80, backlog=4)
    old = a.tcp.connect(None, 0, B_IP, 80, link.now)
    link.run(0.1)
    tunable = find("net.ipv4.tcp.congestion_control")
    assert set_value(a, tunable, "cubic") == "cubic" == get_value(a, tunable)
    new = a.tcp.connect(None, 0, B_IP, 80, link.now)
    link.run(0.1)
    assert tcp_info(new, link.now).tcpi_congestion == "cubic"
    assert tcp_info(old, link.now).tcpi_congestion == "newreno"


def test_a_live_change_shows_in_the_next_packet():
    h = make_harness(peer_known=True)
    set_value(h.stack, find("net.ipv4.default_ttl"), "7")
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, "192.0.2.2", 1, 1, b"x"))
    reply = h.expect(icmp_echo_reply(sequence=1))
    assert reply[14 + 8] == 7, "the reply left with the new TTL"


@pytest.mark.parametrize("name, text, allowed", [
    ("net.ipv4.default_ttl", "300", "an integer in 1..255"),
    ("net.ipv4.tcp.congestion_control", "bbr", "newreno or cubic"),
    ("net.ipv4.tcp.sack", "yes", "0 or 1"),
    ("net.ipv4.tcp.msl", "0", "a number > 0"),
    ("net.ipv4.arp_retries", "three", "an integer in 1..inf"),
])
def test_a_bad_value_is_refused_with_what_is_allowed(name, text, allowed):
    with pytest.raises(ConfigError, match=f"^{name}: .* is not allowed \\({allowed}\\)$"):
        parse_value(find(name), text)


def test_the_configs_own_checks_still_apply_and_name_the_tunable():
    stack = make_harness().stack
    with pytest.raises(ConfigError, match="^net.ipv4.tcp.min_rto: tcp min_rto is above max_rto"):
        set_value(stack, find("net.ipv4.tcp.min_rto"), "500")
    assert get_value(stack, find("net.ipv4.tcp.min_rto")) == 0.2, "nothing changed"


def test_unknown_names_and_start_only_tunables_say_so():
    with pytest.raises(ConfigError, match="no tunable net.ipv4.ttl"):
        find("net.ipv4.ttl")
    with pytest.raises(ConfigError, match="restart the stack"):
        set_value(make_harness().stack, find("net.ipv4.ephemeral_port_first"), "50000")


def test_syncookies_is_set_at_run_time_and_the_next_syn_gets_a_cookie():
    tunable = find("net.ipv4.tcp.syncookies")
    assert tunable.applies == "live" and tunable.allowed() == "an integer in 0..2"
    assert "SYN cookies" in tunable.description
    a, b = two_stacks()
    link = Link(a, b)
    listener = b.tcp.listen(None, 80, backlog=4)
    assert set_value(b, tunable, "2") == 2 == get_value(b, tunable)
    client = a.tcp.connect(None, 0, B_IP, 80, link.now)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    assert b.counters["tcp.syncookies.sent"] == b.counters["tcp.syncookies.validated"] == 1
    # Both ends agree on what the cookie carried back: window scaling, SACK, timestamps.
    assert server.sender.snd_shift == client.receiver.window_shift
    assert server.receiver.window_shift == client.sender.snd_shift
    assert server.sender.sack_enabled and client.sender.sack_enabled
    assert server.timestamps.enabled and client.timestamps.enabled
    with pytest.raises(ConfigError, match="not allowed"):
        set_value(b, tunable, "3")
