/*
 * udp_echo_server: a minimal UDP echo (RFC 862) on a kernel socket, for the Linux reference.
 *
 *   usage: udp_echo_server ADDRESS PORT
 *   e.g.   ip netns exec FAR udp_echo_server 192.0.2.2 7
 *
 * `netstack bench --only udp` runs it at the far end of a veth pair, so that the UDP echo
 * rows show the Linux kernel's own stack beside netstack and the TAP responder. It is the
 * least user-space work an echo can be (one recvfrom, one sendto), so the figure is mostly
 * the kernel's. It prints "listening" once bound; SIGTERM or SIGINT stops it, and it then
 * prints "stopped echoed=N" and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int signum) {
    (void)signum;
    stopping = 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: udp_echo_server ADDRESS PORT\n");
        return 2;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
        fprintf(stderr, "udp_echo_server: not an IPv4 address: %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        perror("udp_echo_server");
        return 1;
    }
    /* No SA_RESTART: a signal interrupts recvfrom, so the loop sees `stopping`. */
    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    printf("listening %s:%s\n", argv[1], argv[2]);
    fflush(stdout);

    unsigned char buffer[65536];
    unsigned long echoed = 0;
    while (!stopping) {
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        ssize_t n = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &peer_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("udp_echo_server: recvfrom");
            return 1;
        }
        if (sendto(fd, buffer, (size_t)n, 0, (struct sockaddr *)&peer, peer_len) == n)
            echoed++;
    }
    printf("stopped echoed=%lu\n", echoed);
    return 0;
}
