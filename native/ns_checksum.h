/* ns_checksum.h: the internet checksum of RFC 1071, fast.
 *
 * ns_ones_complement_sum() returns the one's-complement sum of `data` read as big-endian
 * 16-bit words (an odd last byte is padded with a zero byte), plus `initial`, folded to
 * 16 bits and *not* inverted: chain sums by passing one result as the next `initial`
 * (the UDP/TCP pseudo-header first, then the segment). ns_internet_checksum() inverts
 * it: the value that goes in a header field. Both equal the pure-Python reference in
 * netstack/checksum.py for every input.
 */
#ifndef NS_CHECKSUM_H
#define NS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

uint16_t ns_ones_complement_sum(const void *data, size_t len, uint64_t initial);
uint16_t ns_internet_checksum(const void *data, size_t len, uint64_t initial);

#endif /* NS_CHECKSUM_H */
