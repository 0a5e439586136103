"""netstack: a readable TCP/IP stack in Python, built as DPDK-style pipeline stages.

A frame's path, top to bottom:  engine/ports -> in ring -> engine/loop (dispatch)
-> stages/ethernet -> stages/arp | stages/ipv4 -> stages/icmp ... -> out ring -> port.
"""

__version__ = "0.1.0"
