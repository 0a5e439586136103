"""Known internet checksum values, shared by the checksum unit's tests (any implementation)
and the native module's tests (C against the reference)."""

# RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded); the checksum is 220d.
RFC1071_EXAMPLE = bytes.fromhex("0001f203f4f5f6f7")
# An IPv4 header with its checksum field zeroed; the correct field value is 0xb861.
IPV4_HEADER = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
# (data, initial, the folded one's-complement sum)
KNOWN_SUMS = [
    (b"", 0, 0x0000),
    (b"", 0x1234, 0x1234),
    (b"\x01", 0, 0x0100),  # an odd byte is the high half of a padded word
    (b"\xff\xff", 0, 0xFFFF),
    (b"\xff\xff\x00\x01", 0, 0x0001),  # end-around carry
    (b"\x00" * 9, 0, 0x0000),
    (b"\xff" * 4096, 0, 0xFFFF),
    (b"\x80\x00", 0x8000, 0x0001),
]
