"""Sans-I/O protocol stages: bytes, parsed headers and `now` in; frames, timers and counters out.

Read them in the order a frame meets them: ethernet, arp (with arp_table), ipv4 (with routing,
reassembly and fragmentation), icmp (with rate_limit). `netstack/stack.py` wires them together.
"""
