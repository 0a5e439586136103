"""mahimahi compatibility: its command line in, its link logs out, and traces in its format.

mahimahi (Netravali et al., USENIX ATC 2015) emulates links with nested shells such as
`mm-delay 30 mm-link up.trace down.trace --uplink-queue=droptail ...`, in real time. Many
published experiments (Pantheon's among them) are given as such a command line. This package
lets netstack replay them in virtual time, and write what mm-link would have logged:

    command.py   parse_mm_command("mm-delay 30 mm-link 12mbps.trace 12mbps.trace ...")
                 -> MahimahiSetup(uplink=LinkSpec, downlink=LinkSpec, notes=[...])
    log.py       MahimahiLog: a LinkObserver writing mm-link's log format (--uplink-log),
                 which mm-throughput-graph and mm-delay-graph read
    logread.py   summarize_log: reads such a log as mm-throughput-graph does (a check, and the
                 numbers mahimahi users compare against)
    traces.py    read_trace_file, trace_rate_bps, resolve_trace (shipped traces live in
                 netstack/sim/traces/)

Import from the modules themselves (`from netstack.sim.mahimahi.command import
parse_mm_command`): this file stays empty of imports so no module imports its package back.

Everything here is written from mahimahi's documented behaviour; no mahimahi code or trace
is copied (mahimahi is GPL).
"""
