/*
 * tap_responder: the smallest useful "stack", as a yardstick for netstack's round-trip time.
 *
 *   usage: tap_responder IFNAME IPV4 MAC
 *   e.g.   tap_responder nsbench0 192.0.2.2 02:00:00:00:00:02
 *
 * It opens (creating if needed) the TAP device IFNAME, prints "ready IFNAME" once the device
 * exists, and then answers, by rewriting each received frame in place and writing it back:
 *   - ARP requests for IPV4 (who-has -> is-at MAC);
 *   - ICMP echo requests to IPV4 (type 8 -> 0);
 *   - UDP datagrams to IPV4 port 7 (echo, RFC 862).
 * Everything else is dropped. SIGTERM or SIGINT stops it; it then prints its counters on one
 * line and exits 0.
 *
 * No parsing beyond what the answer needs: the point is to measure the cost of the kernel's
 * TAP path plus a near-zero amount of work, so that netstack's figure can be read as a ratio.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define IP_PROTO_ICMP 1
#define IP_PROTO_UDP 17
#define IP_FLAG_MF 0x2000
#define IP_FRAG_OFFSET_MASK 0x1fff
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define UDP_ECHO_PORT 7
#define DEFAULT_TTL 64

static volatile sig_atomic_t stop_requested;

struct counters {
    unsigned long rx, tx, arp, icmp, udp, ignored;
};

static void on_signal(int signo) {
    (void)signo;
    stop_requested = 1;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n) {
    uint8_t tmp[16];
    memcpy(tmp, a, n);
    memcpy(a, b, n);
    memcpy(b, tmp, n);
}

/* RFC 1071 checksum of a header (the value to store in its checksum field). */
static uint16_t internet_checksum(const uint8_t *p, size_t len) {
    uint32_t sum = 0;
    for (; len > 1; p += 2, len -= 2)
        sum += get16(p);
    if (len)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changed from old_word to new_word. */
static uint16_t checksum_adjust(uint16_t check, uint16_t old_word, uint16_t new_word) {
    uint32_t sum = (uint16_t)~check + (uint16_t)~old_word + (uint32_t)new_word;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Turn an ARP request for our address into the reply. Returns the length to send, or 0. */
static size_t answer_arp(uint8_t *frame, size_t len, const uint8_t mac[ETH_ALEN],
                         const uint8_t ip[4]) {
    uint8_t *arp = frame + ETH_HLEN;
    if (len < ETH_HLEN + ARP_LEN || get16(arp) != 1 || get16(arp + 2) != ETHERTYPE_IPV4 ||
        arp[4] != ETH_ALEN || arp[5] != 4 || get16(arp + 6) != ARP_OP_REQUEST ||
        memcmp(arp + 24, ip, 4) != 0)
        return 0;
    put16(arp + 6, ARP_OP_REPLY);
    memcpy(arp + 18, arp + 8, ETH_ALEN + 4); /* the asker becomes the target */
    memcpy(arp + 8, mac, ETH_ALEN);
    memcpy(arp + 14, ip, 4);
    memcpy(frame, arp + 18, ETH_ALEN);
    memcpy(frame + ETH_ALEN, mac, ETH_ALEN);
    return len;
}

/* Answer an ICMP echo request or a UDP echo datagram in place. Returns the length, or 0. */
static size_t answer_ipv4(uint8_t *frame, size_t len, const uint8_t mac[ETH_ALEN],
                          const uint8_t ip[4], struct counters *c) {
    uint8_t *iph = frame + ETH_HLEN;
    if (len < ETH_HLEN + 20 || (iph[0] >> 4) != 4)
        return 0;
    size_t ihl = (size_t)(iph[0] & 0x0f) * 4;
    size_t total = get16(iph + 2);
    /* Frames may carry Ethernet padding, so total may be shorter than what we read. */
    if (ihl < 20 || total < ihl || ETH_HLEN + total > len || memcmp(iph + 16, ip, 4) != 0 ||
        internet_checksum(iph, ihl) != 0)
        return 0;
    if (get16(iph + 6) & (IP_FLAG_MF | IP_FRAG_OFFSET_MASK))
        return 0; /* fragments would need reassembly: not the yardstick's job */
    uint8_t *l4 = iph + ihl;
    size_t l4_len = total - ihl;

    if (iph[9] == IP_PROTO_ICMP) {
        if (l4_len < 8 || l4[0] != ICMP_ECHO_REQUEST || l4[1] != 0)
            return 0;
        /* The type/code word goes from 0x0800 to 0x0000; the rest of the message is echoed. */
        uint16_t old_word = get16(l4);
        l4[0] = ICMP_ECHO_REPLY;
        put16(l4 + 2, checksum_adjust(get16(l4 + 2), old_word, get16(l4)));
        c->icmp++;
    } else if (iph[9] == IP_PROTO_UDP) {
        if (l4_len < 8 || get16(l4 + 2) != UDP_ECHO_PORT)
            return 0;
        /* Swapping the ports and (below) the addresses leaves the one's-complement sum, and so
         * the UDP checksum, unchanged: addition commutes. */
        swap_bytes(l4, l4 + 2, 2);
        c->udp++;
    } else {
        return 0;
    }
    swap_bytes(iph + 12, iph + 16, 4);
    iph[8] = DEFAULT_TTL;
    put16(iph + 10, 0);
    put16(iph + 10, internet_checksum(iph, ihl));
    memcpy(frame, frame + ETH_ALEN, ETH_ALEN);
    memcpy(frame + ETH_ALEN, mac, ETH_ALEN);
    return ETH_HLEN + total;
}

static int open_tap(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        perror("open /dev/net/tun");
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        perror("ioctl TUNSETIFF");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    uint8_t mac[ETH_ALEN], ip[4];
    if (argc != 4 || strlen(argv[1]) >= IFNAMSIZ || inet_pton(AF_INET, argv[2], ip) != 1 ||
        sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
               &mac[4], &mac[5]) != 6) {
        fprintf(stderr, "usage: %s IFNAME IPV4 MAC   (e.g. tap0 192.0.2.2 02:00:00:00:00:02)\n",
                argv[0]);
        return 2;
    }

    /* No SA_RESTART: a signal must interrupt the blocking read() so the loop can see it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int fd = open_tap(argv[1]);
    if (fd < 0)
        return 1;
    printf("ready %s\n", argv[1]);
    fflush(stdout);

    static uint8_t frame[65536];
    struct counters c = {0};
    while (!stop_requested) {
        ssize_t n = read(fd, frame, sizeof frame);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("read");
            break;
        }
        c.rx++;
        size_t len = (size_t)n, out = 0;
        if (len >= ETH_HLEN) {
            uint16_t ethertype = get16(frame + 12);
            if (ethertype == ETHERTYPE_ARP) {
                out = answer_arp(frame, len, mac, ip);
                c.arp += out != 0;
            } else if (ethertype == ETHERTYPE_IPV4 && memcmp(frame, mac, ETH_ALEN) == 0) {
                out = answer_ipv4(frame, len, mac, ip, &c);
            }
        }
        if (out == 0) {
            c.ignored++;
            continue;
        }
        if (write(fd, frame, out) == (ssize_t)out)
            c.tx++;
        else if (errno != EINTR)
            perror("write");
    }
    printf("stopped rx=%lu tx=%lu arp=%lu icmp=%lu udp=%lu ignored=%lu\n", c.rx, c.tx, c.arp,
           c.icmp, c.udp, c.ignored);
    close(fd);
    return 0;
}
