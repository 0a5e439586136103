"""Wire formats: one module per header, no state.

Each module has a frozen dataclass header, `parse(buf) -> (header, payload)` that validates
lengths and checksums once (after it succeeds, nothing raises), `build(header, payload)` that
computes them, `write_header(...)` for the mbuf prepend path, and `describe(header)` for a
one-line, tcpdump-like summary. Every failure is a `netstack.errors.MalformedPacket(reason)`.
"""
