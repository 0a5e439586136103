/*
 * udp_driver: a kernel-side UDP echo client that measures round trips per second.
 *
 *   usage: udp_driver HOST PORT|icmp [-n INFLIGHT] [-s SIZE] [-d SECONDS] [-w WARMUP] [-t TIMEOUT_MS]
 *   e.g.   ip netns exec NS udp_driver 192.0.2.2 7 -n 16 -s 64 -d 1
 *
 * PORT "icmp" sends ICMP echo requests through a ping socket instead (SOCK_DGRAM,
 * IPPROTO_ICMP: the kernel writes the identifier and checksum). The same counts then measure
 * ping round trips, which exercise the same engine, Ethernet and IPv4 path as UDP echo. The
 * namespace must allow it: sysctl net.ipv4.ping_group_range="0 0" for root.
 *
 * It keeps INFLIGHT datagrams of SIZE bytes outstanding at all times: every reply (or
 * timeout) sends the next one. With -n 1 that is ping-pong and the rate is 1 / round-trip
 * time; with more in flight the rate is what the echo server can sustain.
 *
 * Each datagram starts with a 64-bit sequence number and is filled with a pattern derived
 * from it, so every reply can be checked:
 *   received   the echo of an outstanding datagram, byte for byte (counted only in the
 *              measured interval, after WARMUP seconds);
 *   corrupt    the wrong length, or the right sequence number with the wrong bytes;
 *   duplicate  a second echo of a datagram already answered;
 *   late       an echo that came after its datagram had timed out;
 *   lost       datagrams that got no echo within TIMEOUT_MS; each is replaced by a new one
 *              so a lost datagram never stalls the window;
 *   refused    ICMP port unreachable (the connected socket reports ECONNREFUSED).
 *
 * After the run it prints one line that `netstack bench` parses:
 *   result inflight=16 size=64 seconds=1.000 sent=... received=... lost=... duplicate=...
 *          corrupt=... late=... refused=... rate=12345.6 rtt_avg_us=81.0
 * and exits 0 if at least one reply came back, 1 otherwise (2 on a usage error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 1024
#define MAX_SIZE 65507 /* the largest UDP payload over IPv4 */
#define SEQ_LEN 8      /* the sequence number at the front of every datagram */
#define ICMP_HEADER_LEN 8
#define ICMP_ECHO_REQUEST 8
#define ICMP_ECHO_REPLY 0

/* What became of each sequence number; indexed by sequence, grown as we send. */
enum seq_state { UNSENT, OUTSTANDING, ANSWERED, TIMED_OUT };

struct slot {
    uint64_t seq;
    double sent_at;
};

struct stats {
    unsigned long sent, received, lost, duplicate, corrupt, late, refused;
    double rtt_sum;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pattern_byte(uint64_t seq, size_t i) { return (uint8_t)(seq * 31 + i); }

static void fill(uint8_t *buf, size_t size, uint64_t seq) {
    memcpy(buf, &seq, SEQ_LEN); /* host byte order: only this process reads it back */
    for (size_t i = SEQ_LEN; i < size; i++)
        buf[i] = pattern_byte(seq, i);
}

static int intact(const uint8_t *buf, size_t size, uint64_t seq) {
    for (size_t i = SEQ_LEN; i < size; i++)
        if (buf[i] != pattern_byte(seq, i))
            return 0;
    return 1;
}

/* The per-sequence state array, grown by doubling so indexing stays O(1). */
static uint8_t *states;
static size_t states_len;

static int ensure_state(uint64_t seq) {
    if (seq < states_len)
        return 0;
    size_t len = states_len ? states_len * 2 : 1 << 16;
    while (len <= seq)
        len *= 2;
    uint8_t *grown = realloc(states, len);
    if (grown == NULL)
        return -1;
    memset(grown + states_len, UNSENT, len - states_len);
    states = grown;
    states_len = len;
    return 0;
}

static uint64_t next_seq;

/* In ICMP mode every datagram is an echo request header followed by our payload. The kernel
 * fills in the identifier and checksum; the sequence field is left 0 (ours is in the data). */
static int icmp_mode;

static ssize_t send_payload(int fd, uint8_t *buf, size_t size) {
    if (!icmp_mode)
        return send(fd, buf, size, 0);
    uint8_t header[ICMP_HEADER_LEN] = {ICMP_ECHO_REQUEST};
    struct iovec iov[2] = {{header, sizeof header}, {buf, size}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    return sendmsg(fd, &msg, 0);
}

/* Receive one reply into buf without blocking; returns the payload length (the echo header
 * stripped in ICMP mode, -2 if that header is not an echo reply) or -1 with errno set. */
static ssize_t recv_payload(int fd, uint8_t *buf, size_t room) {
    if (!icmp_mode)
        return recv(fd, buf, room, MSG_DONTWAIT);
    uint8_t header[ICMP_HEADER_LEN];
    struct iovec iov[2] = {{header, sizeof header}, {buf, room}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0)
        return n;
    if (n < ICMP_HEADER_LEN || header[0] != ICMP_ECHO_REPLY)
        return -2;
    return n - ICMP_HEADER_LEN;
}

/* Send a fresh datagram from slot `s`. A send that fails (ENOBUFS, ECONNREFUSED reported
 * late) still occupies the slot: its timeout replaces it, so the window never shrinks. */
static int send_next(int fd, struct slot *s, uint8_t *buf, size_t size, struct stats *st) {
    s->seq = next_seq++;
    if (ensure_state(s->seq) < 0)
        return -1;
    fill(buf, size, s->seq);
    s->sent_at = now_seconds();
    states[s->seq] = OUTSTANDING;
    if (send_payload(fd, buf, size) < 0 && errno == ECONNREFUSED)
        st->refused++;
    st->sent++;
    return 0;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s HOST PORT|icmp [-n INFLIGHT] [-s SIZE] [-d SECONDS] [-w WARMUP] "
            "[-t TIMEOUT_MS]\n",
            prog);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        usage(argv[0]);
        return 2;
    }
    struct sockaddr_in peer;
    memset(&peer, 0, sizeof peer);
    peer.sin_family = AF_INET;
    char *end;
    long port = 0;
    icmp_mode = strcmp(argv[2], "icmp") == 0;
    if (!icmp_mode)
        port = strtol(argv[2], &end, 10);
    if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1 ||
        (!icmp_mode && (*end || port < 1 || port > 65535))) {
        usage(argv[0]);
        return 2;
    }
    peer.sin_port = htons((uint16_t)port);

    long inflight = 1, size = 64, timeout_ms = 200;
    double duration = 1.0, warmup = 0.1;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc || argv[i][0] != '-' || strlen(argv[i]) != 2) {
            usage(argv[0]);
            return 2;
        }
        const char *value = argv[++i];
        switch (argv[i - 1][1]) {
        case 'n': inflight = strtol(value, &end, 10); break;
        case 's': size = strtol(value, &end, 10); break;
        case 'd': duration = strtod(value, &end); break;
        case 'w': warmup = strtod(value, &end); break;
        case 't': timeout_ms = strtol(value, &end, 10); break;
        default: usage(argv[0]); return 2;
        }
        if (*end) {
            usage(argv[0]);
            return 2;
        }
    }
    if (inflight < 1 || inflight > MAX_INFLIGHT || size < SEQ_LEN || size > MAX_SIZE ||
        !(duration > 0) || warmup < 0 || timeout_ms < 1) {
        fprintf(stderr, "%s: need 1 <= INFLIGHT <= %d, %d <= SIZE <= %d, SECONDS > 0, "
                "WARMUP >= 0, TIMEOUT_MS >= 1\n", argv[0], MAX_INFLIGHT, SEQ_LEN, MAX_SIZE);
        return 2;
    }

    /* A connected socket: the kernel filters out other senders, and an ICMP port
     * unreachable comes back to us as ECONNREFUSED. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, icmp_mode ? IPPROTO_ICMP : 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) {
        perror(icmp_mode ? "ping socket (is net.ipv4.ping_group_range set?)" : "udp socket");
        return 1;
    }
    static uint8_t out[MAX_SIZE], in[MAX_SIZE + 1]; /* +1: a longer reply shows as corrupt */
    static struct slot slots[MAX_INFLIGHT];
    struct stats warm = {0}, st = {0};
    const double timeout = (double)timeout_ms / 1000;

    double started = now_seconds();
    double measure_from = started + warmup, measure_until = measure_from + duration;
    int measuring = warmup == 0;
    if (measuring)
        warm = st;
    for (long i = 0; i < inflight; i++)
        if (send_next(fd, &slots[i], out, (size_t)size, &st) < 0)
            goto out_of_memory;

    for (;;) {
        double now = now_seconds();
        if (!measuring && now >= measure_from) {
            warm = st; /* the figures are differences from here on */
            measuring = 1;
        }
        if (now >= measure_until)
            break;

        /* Sleep until a reply arrives, the oldest datagram times out or the phase ends. */
        double wake = measuring ? measure_until : measure_from;
        for (long i = 0; i < inflight; i++)
            if (slots[i].sent_at + timeout < wake)
                wake = slots[i].sent_at + timeout;
        int wait_ms = wake > now ? (int)((wake - now) * 1000) + 1 : 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }

        /* Every reply that is waiting, without blocking. */
        for (;;) {
            ssize_t n = recv_payload(fd, in, sizeof in);
            if (n == -2) {
                st.corrupt++;
                continue;
            }
            if (n < 0) {
                if (errno == ECONNREFUSED) {
                    st.refused++;
                    continue;
                }
                break; /* EAGAIN: nothing more waiting */
            }
            uint64_t seq;
            if ((size_t)n != (size_t)size) {
                st.corrupt++;
                continue;
            }
            memcpy(&seq, in, SEQ_LEN);
            if (seq >= next_seq || !intact(in, (size_t)n, seq)) {
                st.corrupt++;
                continue;
            }
            if (states[seq] == ANSWERED) {
                st.duplicate++;
                continue;
            }
            if (states[seq] == TIMED_OUT) {
                st.late++;
                continue;
            }
            states[seq] = ANSWERED;
            double answered_at = now_seconds();
            for (long i = 0; i < inflight; i++) {
                if (slots[i].seq == seq) {
                    st.received++;
                    st.rtt_sum += answered_at - slots[i].sent_at;
                    if (send_next(fd, &slots[i], out, (size_t)size, &st) < 0)
                        goto out_of_memory;
                    break;
                }
            }
        }

        /* Replace what timed out, so loss costs a timeout and never the whole window. */
        now = now_seconds();
        for (long i = 0; i < inflight; i++) {
            if (now - slots[i].sent_at >= timeout) {
                states[slots[i].seq] = TIMED_OUT;
                st.lost++;
                if (send_next(fd, &slots[i], out, (size_t)size, &st) < 0)
                    goto out_of_memory;
            }
        }
    }

    double seconds = duration;
    unsigned long received = st.received - warm.received;
    printf("result inflight=%ld size=%ld seconds=%.3f sent=%lu received=%lu lost=%lu "
           "duplicate=%lu corrupt=%lu late=%lu refused=%lu rate=%.1f rtt_avg_us=%.1f\n",
           inflight, size, seconds, st.sent - warm.sent, received, st.lost - warm.lost,
           st.duplicate - warm.duplicate, st.corrupt - warm.corrupt, st.late - warm.late,
           st.refused - warm.refused, (double)received / seconds,
           received ? (st.rtt_sum - warm.rtt_sum) / (double)received * 1e6 : 0.0);
    close(fd);
    free(states);
    return received > 0 ? 0 : 1;

out_of_memory:
    fprintf(stderr, "%s: out of memory for sequence states\n", argv[0]);
    return 1;
}
