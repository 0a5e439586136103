/* ns_checksum.c: see ns_checksum.h.
 *
 * Three facts about one's-complement addition (RFC 1071 section 2) make it fast:
 *  1. Any word size works. Adding 64-bit words and wrapping each carry out of bit 63
 *     back into bit 0 ("end-around carry") gives a sum that folds to the same 16 bits,
 *     because 2^64 = (2^16)^4 and 2^16 counts as 1 in this arithmetic.
 *  2. Byte order can be fixed at the end. Summing words in the CPU's own (little-endian)
 *     order gives the big-endian answer with its two bytes swapped, so we swap once
 *     after folding instead of swapping every word.
 *  3. Order and grouping don't matter, so `initial` can be added at the end.
 */
#include "ns_checksum.h"

#include <stdbool.h>
#include <string.h>

/* Fold a wide one's-complement sum to 16 bits. Never turns a non-zero sum into 0. */
static uint64_t fold16(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return sum;
}

static uint64_t add_end_around(uint64_t sum, uint64_t word)
{
    sum += word;
    return sum + (sum < word); /* the carry out of bit 63 comes back in at bit 0 */
}

static bool cpu_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1); /* the compiler turns this into a constant */
    return first == 1;
}

uint16_t ns_ones_complement_sum(const void *data, size_t len, uint64_t initial)
{
    const unsigned char *p = data;
    uint64_t sum = 0;
    uint64_t word;

    /* memcpy is how C reads a word from an address that may be unaligned; at -O2 it
     * compiles to a single load. */
    while (len >= 8) {
        memcpy(&word, p, 8);
        sum = add_end_around(sum, word);
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        /* The last 1..7 bytes, zero-padded: an odd byte becomes the high half of a
         * big-endian word, exactly as RFC 1071 pads it. */
        unsigned char tail[8] = {0};
        memcpy(tail, p, len);
        memcpy(&word, tail, 8);
        sum = add_end_around(sum, word);
    }

    sum = fold16(sum);
    if (cpu_is_little_endian())
        sum = ((sum >> 8) | (sum << 8)) & 0xFFFF;
    return (uint16_t)fold16(sum + fold16(initial));
}

uint16_t ns_internet_checksum(const void *data, size_t len, uint64_t initial)
{
    return (uint16_t)~ns_ones_complement_sum(data, len, initial);
}
