"""`netstack drill`: packetdrill scripts run against netstack in virtual time.

A packetdrill script is a conversation with one TCP (or UDP) endpoint, written from the
outside: system calls the application makes, packets the wire brings in (`<`), and packets
the stack must send (`>`), each at a time. netstack runs it with no network and no wall
clock: the stack is a simulated host (netstack/sim/node.py), the script's remote end is
the runner itself, and time jumps from one event to the next, so a script that waits three
RTOs takes milliseconds and gives the same answer on every run.

The pieces, each small:
- script.py:   what a parsed script is (events, packets, system calls);
- parser.py:   packetdrill's grammar -> a Script, or "unsupported: FEATURE at line N";
- packets.py:  inbound packets built from the script; outbound ones compared with it, in
               the `strict` or the `rfc` profile;
- syscalls.py: the system calls, over netstack's own sockets;
- code.py:     `%{ }%` blocks: assertions over tcpi_* values, on a whitelisted subset;
- sysctl.py:   backtick commands: known sysctls mapped onto netstack's tunables;
- runner.py:   one script in virtual time -> a Result (pass, or the first mismatch);
- report.py:   the summary, JUnit XML and the pcap of a failing script;
- cli.py:      the command line.
"""
