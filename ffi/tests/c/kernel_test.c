/*
 * The C API against a real IPVS kernel: every handle call, every error the
 * kernel can give through it, lists, stats with real packets, batches with
 * per-operation results, and handles on concurrent threads.
 *
 * Usage (tests/kernel_c.rs sets this up, as root in a kernel with IPVS):
 *     ip netns exec A kernel_test NETNS_B_PATH
 *         A: the current namespace, with dummy0 holding 10.99.0.254/24;
 *         B: another, empty namespace.
 *     setpriv --bounding-set -net_admin --inh-caps -net_admin kernel_test --eperm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lvs.h"

/* ----- helpers ------------------------------------------------------------ */

static lvs_addr addr(const char *text) {
    lvs_addr a;
    memset(&a, 0, sizeof a);
    EXPECT(lvs_addr_parse(text, &a), LVS_OK);
    return a;
}

static lvs_service_key key_of(uint16_t protocol, const char *text) {
    lvs_service_key k;
    memset(&k, 0, sizeof k);
    k.protocol = protocol;
    k.addr = addr(text);
    return k;
}

static lvs_service_key fwmark_key(uint8_t family, uint32_t mark) {
    lvs_service_key k;
    memset(&k, 0, sizeof k);
    k.addr.family = family;
    k.fwmark = mark;
    return k;
}

static lvs_service service(lvs_service_key key, const char *scheduler) {
    lvs_service s;
    memset(&s, 0, sizeof s);
    s.key = key;
    snprintf(s.scheduler, sizeof s.scheduler, "%s", scheduler);
    return s;
}

static lvs_destination dest(const char *text, uint32_t forwarding, uint32_t weight) {
    lvs_destination d;
    memset(&d, 0, sizeof d);
    d.addr = addr(text);
    d.forwarding = forwarding;
    d.weight = weight;
    return d;
}

static int same_addr(const lvs_addr *a, const lvs_addr *b) {
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

static int same_key(const lvs_service_key *a, const lvs_service_key *b) {
    return a->protocol == b->protocol && a->fwmark == b->fwmark && same_addr(&a->addr, &b->addr);
}

static int same_service(const lvs_service *a, const lvs_service *b) {
    return same_key(&a->key, &b->key) && strcmp(a->scheduler, b->scheduler) == 0 &&
           a->flags == b->flags && a->persistence_timeout == b->persistence_timeout &&
           a->persistence_netmask == b->persistence_netmask && strcmp(a->pe_name, b->pe_name) == 0;
}

static int same_dest(const lvs_destination *a, const lvs_destination *b) {
    return same_addr(&a->addr, &b->addr) && a->forwarding == b->forwarding &&
           a->weight == b->weight && a->upper_threshold == b->upper_threshold &&
           a->lower_threshold == b->lower_threshold && a->tun_type == b->tun_type &&
           a->tun_port == b->tun_port && a->tun_flags == b->tun_flags;
}

static size_t count_services(lvs_handle *h) {
    lvs_service_list *list = NULL;
    EXPECT(lvs_handle_services(h, &list), LVS_OK);
    size_t n = lvs_service_list_len(list);
    lvs_service_list_free(list);
    return n;
}

static const char *netns_b;

/* ----- handles ------------------------------------------------------------ */

static void test_open(lvs_handle **here, lvs_handle **in_b, lvs_handle **in_b_fd) {
    EXPECT(lvs_handle_open(here), LVS_OK);
    EXPECT(lvs_handle_open_netns_path(netns_b, in_b), LVS_OK);
    int fd = open(netns_b, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    EXPECT(lvs_handle_open_netns_fd(fd, in_b_fd), LVS_OK);
    close(fd); /* only borrowed: the handle keeps working */
    CHECK(*here != NULL && *in_b != NULL && *in_b_fd != NULL);
    EXPECT(lvs_handle_set_timeout(*here, 5000), LVS_OK);
    EXPECT(lvs_handle_set_timeout(*here, 0), LVS_OK); /* wait for ever */
    EXPECT(lvs_handle_set_timeout(*here, 10000), LVS_OK);
}

static void test_info_and_timeouts(lvs_handle *h) {
    lvs_info info;
    memset(&info, 0, sizeof info);
    EXPECT(lvs_handle_info(h, &info), LVS_OK);
    CHECK(info.version_major == 1 && info.conn_table_size > 0);
    printf("kernel_test: IPVS %u.%u.%u, %u connection buckets\n", info.version_major,
           info.version_minor, info.version_patch, info.conn_table_size);
    EXPECT(lvs_handle_info(h, NULL), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(h), "`out` is NULL");

    lvs_timeouts t = {0, 0, 0}, set = {901, 121, 301}, got;
    EXPECT(lvs_handle_timeouts(h, &t), LVS_OK);
    CHECK(t.tcp > 0 && t.tcp_fin > 0 && t.udp > 0);
    EXPECT(lvs_handle_set_timeouts(h, &set), LVS_OK);
    EXPECT(lvs_handle_timeouts(h, &got), LVS_OK);
    CHECK(got.tcp == 901 && got.tcp_fin == 121 && got.udp == 301);
    lvs_timeouts only_udp = {0, 0, 77}; /* zeros leave values alone */
    EXPECT(lvs_handle_set_timeouts(h, &only_udp), LVS_OK);
    EXPECT(lvs_handle_timeouts(h, &got), LVS_OK);
    CHECK(got.tcp == 901 && got.tcp_fin == 121 && got.udp == 77);
    lvs_timeouts too_long = {2147484, 0, 0};
    EXPECT(lvs_handle_set_timeouts(h, &too_long), LVS_INVALID_ARGUMENT);
    CONTAINS(handle_error(h), "timeouts.tcp");
    EXPECT(lvs_handle_set_timeouts(h, &t), LVS_OK); /* restore */
    EXPECT(lvs_handle_timeouts(h, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_set_timeouts(h, NULL), LVS_NULL_PARAMETER);
}

/* ----- services ----------------------------------------------------------- */

static void test_services(lvs_handle *h) {
    lvs_service web = service(key_of(LVS_PROTO_TCP, "10.0.0.1:80"), "rr");
    EXPECT(lvs_service_add(h, &web), LVS_OK);
    CHECK(strcmp(handle_error(h), "") == 0);

    /* An error: the code, the handle's message, the thread's message. */
    EXPECT(lvs_service_add(h, &web), LVS_SERVICE_EXISTS);
    CONTAINS(handle_error(h), "add service TCP 10.0.0.1:80");
    CONTAINS(handle_error(h), "already exists");
    CONTAINS(handle_error(h), "errno 17");
    CHECK(strcmp(handle_error(h), last_error()) == 0);
    /* Message buffers: ask the length, then truncate. */
    size_t need = 0, len = 0;
    EXPECT(lvs_handle_last_error(h, NULL, 0, &need), LVS_BUFFER_TOO_SMALL);
    CHECK(need == strlen(handle_error(h)));
    char small[12];
    EXPECT(lvs_handle_last_error(h, small, sizeof small, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(len == need && strlen(small) == sizeof small - 1);
    EXPECT(lvs_handle_last_error(h, NULL, 5, &len), LVS_NULL_PARAMETER);

    lvs_service_entry e;
    memset(&e, 0, sizeof e);
    EXPECT(lvs_service_get(h, &web.key, &e), LVS_OK);
    CHECK(strcmp(handle_error(h), "") == 0); /* success clears it */
    CHECK(same_service(&e.service, &web));
    CHECK(e.stats.conns == 0 && e.stats.in_packets == 0 && !e.stats.from_32bit);

    /* Update in place: scheduler, persistence with a /24. */
    lvs_service web2 = web;
    strcpy(web2.scheduler, "wrr");
    web2.persistence_timeout = 300;
    web2.persistence_netmask = 0xffffff00;
    EXPECT(lvs_service_update(h, &web2), LVS_OK);
    EXPECT(lvs_service_get(h, &web.key, &e), LVS_OK);
    CHECK(same_service(&e.service, &web2));
    /* Netmask 0 means the full mask, and reads back as such. */
    web2.persistence_netmask = 0;
    EXPECT(lvs_service_update(h, &web2), LVS_OK);
    EXPECT(lvs_service_get(h, &web.key, &e), LVS_OK);
    CHECK(e.service.persistence_netmask == 0xffffffffu);
    EXPECT(lvs_service_update(h, &web), LVS_OK);

    /* Missing services. */
    lvs_service ghost = service(key_of(LVS_PROTO_TCP, "10.0.0.99:80"), "rr");
    EXPECT(lvs_service_update(h, &ghost), LVS_SERVICE_NOT_FOUND);
    CONTAINS(handle_error(h), "no such service");
    EXPECT(lvs_service_remove(h, &ghost.key), LVS_SERVICE_NOT_FOUND);
    lvs_service_entry untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    e = untouched;
    EXPECT(lvs_service_get(h, &ghost.key, &e), LVS_SERVICE_NOT_FOUND);
    CHECK(memcmp(&e, &untouched, sizeof e) == 0);

    /* A scheduler module that does not exist. */
    lvs_service odd = service(key_of(LVS_PROTO_TCP, "10.0.0.2:80"), "nosuch");
    EXPECT(lvs_service_add(h, &odd), LVS_SCHEDULER_NOT_FOUND);
    CONTAINS(handle_error(h), "ip_vs_nosuch");
    /* Invalid input is refused before anything is sent, with the operation. */
    odd = service(key_of(LVS_PROTO_TCP, "10.0.0.2:80"), "rr");
    odd.flags = LVS_SVC_F_ONEPACKET;
    EXPECT(lvs_service_add(h, &odd), LVS_INVALID_ARGUMENT);
    CONTAINS(handle_error(h), "add service TCP 10.0.0.2:80");
    CONTAINS(handle_error(h), "one-packet");
    odd.flags = 0;
    odd.key.addr.family = 0;
    EXPECT(lvs_service_add(h, &odd), LVS_INVALID_ARGUMENT);
    CONTAINS(handle_error(h), "service.key.addr.family");

    /* Every kind of service round-trips. */
    lvs_service zoo[7];
    zoo[0] = service(fwmark_key(LVS_AF_INET6, 1), "sh");
    zoo[0].flags = LVS_SVC_F_SCHED_FALLBACK | LVS_SVC_F_SCHED_PORT;
    zoo[0].persistence_timeout = 60;
    zoo[0].persistence_netmask = 64;
    zoo[1] = service(key_of(LVS_PROTO_UDP, "10.0.0.3:53"), "rr");
    zoo[1].flags = LVS_SVC_F_ONEPACKET;
    zoo[2] = service(key_of(LVS_PROTO_SCTP, "[2001:db8::3]:3868"), "lc");
    zoo[3] = service(key_of(LVS_PROTO_UDP, "10.0.0.4:5060"), "rr");
    zoo[3].persistence_timeout = 120;
    zoo[3].persistence_netmask = 0xffffffff;
    strcpy(zoo[3].pe_name, "sip");
    zoo[4] = service(key_of(LVS_PROTO_TCP, "10.0.0.5:443"), "mh");
    zoo[4].flags = LVS_SVC_F_SCHED_FALLBACK;
    zoo[5] = service(fwmark_key(LVS_AF_INET, 0xffffffffu), "dh");
    zoo[6] = service(key_of(50 /* ESP */, "10.0.0.6:0"), "wlc");
    zoo[6].persistence_timeout = 3600;
    zoo[6].persistence_netmask = 0xffff0000;
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) {
        EXPECT(lvs_service_add(h, &zoo[i]), LVS_OK);
        memset(&e, 0, sizeof e);
        EXPECT(lvs_service_get(h, &zoo[i].key, &e), LVS_OK);
        CHECK(same_service(&e.service, &zoo[i]));
    }

    /* The list has all of them. */
    lvs_service_list *list = NULL;
    EXPECT(lvs_handle_services(h, &list), LVS_OK);
    size_t n = lvs_service_list_len(list);
    CHECK(n == 1 + sizeof zoo / sizeof zoo[0]);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        const lvs_service_entry *it = lvs_service_list_get(list, i);
        CHECK(it != NULL);
        for (size_t j = 0; j < sizeof zoo / sizeof zoo[0]; j++) {
            if (it != NULL && same_key(&it->service.key, &zoo[j].key)) {
                CHECK(same_service(&it->service, &zoo[j]));
                found++;
            }
        }
    }
    CHECK(found == sizeof zoo / sizeof zoo[0]);
    CHECK(lvs_service_list_get(list, n) == NULL);
    CHECK(lvs_service_list_get(list, SIZE_MAX) == NULL);
    lvs_service_list_free(list);

    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) {
        EXPECT(lvs_service_remove(h, &zoo[i].key), LVS_OK);
    }
    CHECK(count_services(h) == 1);

    /* NULL arguments, each named in the handle's message. */
    EXPECT(lvs_service_add(h, NULL), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(h), "`service` is NULL");
    EXPECT(lvs_service_update(h, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_remove(h, NULL), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(h), "`key` is NULL");
    EXPECT(lvs_service_get(h, NULL, &e), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_get(h, &web.key, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_services(h, NULL), LVS_NULL_PARAMETER);
}

/* ----- destinations ------------------------------------------------------- */

static void test_destinations(lvs_handle *h) {
    lvs_service_key web = key_of(LVS_PROTO_TCP, "10.0.0.1:80");
    lvs_destination zoo[7];
    zoo[0] = dest("10.0.1.1:8080", LVS_FWD_MASQ, 1);
    zoo[1] = dest("10.0.1.2:8080", LVS_FWD_DROUTE, 2147483647u);
    zoo[2] = dest("10.0.1.3:80", LVS_FWD_TUNNEL, 3);
    zoo[2].tun_type = LVS_TUN_GUE;
    zoo[2].tun_port = 6080;
    zoo[2].tun_flags = LVS_TUN_F_CSUM;
    zoo[3] = dest("10.0.1.4:80", LVS_FWD_TUNNEL, 4);
    zoo[3].tun_type = LVS_TUN_GRE;
    zoo[3].tun_flags = LVS_TUN_F_CSUM;
    zoo[4] = dest("127.0.0.1:80", LVS_FWD_LOCAL, 5);
    zoo[5] = dest("10.0.1.6:0", LVS_FWD_MASQ, 0);
    zoo[5].upper_threshold = 100;
    zoo[5].lower_threshold = 10;
    zoo[6] = dest("[2001:db8:1::9]:80", LVS_FWD_TUNNEL, 1); /* IPv6 behind IPv4: IPIP */
    size_t nzoo = sizeof zoo / sizeof zoo[0];
    for (size_t i = 0; i < nzoo; i++) {
        EXPECT(lvs_destination_add(h, &web, &zoo[i]), LVS_OK);
    }

    /* Read back one by one and as a list (newest first). */
    lvs_destination_entry e;
    for (size_t i = 0; i < nzoo; i++) {
        memset(&e, 0, sizeof e);
        EXPECT(lvs_destination_get(h, &web, &zoo[i].addr, &e), LVS_OK);
        CHECK(same_dest(&e.destination, &zoo[i]));
        CHECK(e.conns.active == 0 && e.conns.inactive == 0 && e.stats.conns == 0);
    }
    lvs_destination_list *list = NULL;
    EXPECT(lvs_handle_destinations(h, &web, &list), LVS_OK);
    CHECK(lvs_destination_list_len(list) == nzoo);
    for (size_t i = 0; i < lvs_destination_list_len(list); i++) {
        const lvs_destination_entry *it = lvs_destination_list_get(list, i);
        CHECK(it != NULL && same_dest(&it->destination, &zoo[nzoo - 1 - i]));
    }
    CHECK(lvs_destination_list_get(list, nzoo) == NULL);
    lvs_destination_list_free(list);

    /* Kernel errors. */
    EXPECT(lvs_destination_add(h, &web, &zoo[0]), LVS_DESTINATION_EXISTS);
    CONTAINS(handle_error(h), "add destination 10.0.1.1:8080 to TCP 10.0.0.1:80");
    lvs_service_key ghost = key_of(LVS_PROTO_TCP, "10.0.0.99:80");
    EXPECT(lvs_destination_add(h, &ghost, &zoo[0]), LVS_SERVICE_NOT_FOUND);
    lvs_destination multicast = dest("224.0.0.5:80", LVS_FWD_MASQ, 1);
    EXPECT(lvs_destination_add(h, &web, &multicast), LVS_KERNEL);
    CONTAINS(handle_error(h), "errno 22");
    lvs_destination mixed = dest("[2001:db8::7]:80", LVS_FWD_MASQ, 1);
    EXPECT(lvs_destination_add(h, &web, &mixed), LVS_INVALID_ARGUMENT);
    CONTAINS(handle_error(h), "tunnel");

    /* Update. */
    lvs_destination heavier = zoo[0];
    heavier.weight = 5;
    heavier.upper_threshold = 50;
    heavier.lower_threshold = 5;
    EXPECT(lvs_destination_update(h, &web, &heavier), LVS_OK);
    EXPECT(lvs_destination_get(h, &web, &heavier.addr, &e), LVS_OK);
    CHECK(same_dest(&e.destination, &heavier));
    lvs_destination stranger = dest("10.0.1.200:80", LVS_FWD_MASQ, 1);
    EXPECT(lvs_destination_update(h, &web, &stranger), LVS_DESTINATION_NOT_FOUND);
    EXPECT(lvs_destination_update(h, &ghost, &heavier), LVS_SERVICE_NOT_FOUND);

    /* Get: missing destination, missing service; *out untouched. */
    lvs_destination_entry untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    e = untouched;
    EXPECT(lvs_destination_get(h, &web, &stranger.addr, &e), LVS_DESTINATION_NOT_FOUND);
    CONTAINS(handle_error(h), "no such destination");
    EXPECT(lvs_destination_get(h, &ghost, &zoo[0].addr, &e), LVS_SERVICE_NOT_FOUND);
    CHECK(memcmp(&e, &untouched, sizeof e) == 0);

    /* Remove. */
    EXPECT(lvs_destination_remove(h, &web, &zoo[6].addr), LVS_OK);
    EXPECT(lvs_destination_remove(h, &web, &zoo[6].addr), LVS_DESTINATION_NOT_FOUND);
    EXPECT(lvs_destination_remove(h, &ghost, &zoo[0].addr), LVS_SERVICE_NOT_FOUND);

    /* Lists: a missing service is an error, an empty one is not. */
    list = (lvs_destination_list *)&e; /* overwritten with NULL on failure */
    EXPECT(lvs_handle_destinations(h, &ghost, &list), LVS_SERVICE_NOT_FOUND);
    CHECK(list == NULL);
    lvs_service empty = service(key_of(LVS_PROTO_TCP, "10.0.0.7:80"), "rr");
    EXPECT(lvs_service_add(h, &empty), LVS_OK);
    EXPECT(lvs_handle_destinations(h, &empty.key, &list), LVS_OK);
    CHECK(list != NULL && lvs_destination_list_len(list) == 0);
    CHECK(lvs_destination_list_get(list, 0) == NULL);
    lvs_destination_list_free(list);

    /* The whole table. */
    lvs_table *table = NULL;
    EXPECT(lvs_handle_table(h, &table), LVS_OK);
    CHECK(lvs_table_len(table) == 2);
    size_t dests_seen = 0;
    for (size_t i = 0; i < lvs_table_len(table); i++) {
        const lvs_service_entry *s = lvs_table_service(table, i);
        const lvs_destination_list *d = lvs_table_destinations(table, i);
        CHECK(s != NULL && d != NULL);
        if (s == NULL || d == NULL) continue;
        if (same_key(&s->service.key, &web)) {
            CHECK(lvs_destination_list_len(d) == nzoo - 1);
            const lvs_destination_entry *first = lvs_destination_list_get(d, 0);
            CHECK(first != NULL && same_dest(&first->destination, &zoo[5]));
        } else {
            CHECK(same_key(&s->service.key, &empty.key));
            CHECK(lvs_destination_list_len(d) == 0);
        }
        dests_seen += lvs_destination_list_len(d);
    }
    CHECK(dests_seen == nzoo - 1);
    CHECK(lvs_table_service(table, 2) == NULL && lvs_table_destinations(table, 2) == NULL);
    lvs_table_free(table);
    EXPECT(lvs_service_remove(h, &empty.key), LVS_OK);

    /* NULL arguments. */
    EXPECT(lvs_destination_add(h, NULL, &zoo[0]), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_add(h, &web, NULL), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(h), "`dest` is NULL");
    EXPECT(lvs_destination_update(h, NULL, &zoo[0]), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_update(h, &web, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_remove(h, NULL, &zoo[0].addr), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_remove(h, &web, NULL), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(h), "`addr` is NULL");
    EXPECT(lvs_destination_get(h, &web, &zoo[0].addr, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_get(h, &web, NULL, &e), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_get(h, NULL, &zoo[0].addr, &e), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_destinations(h, NULL, &list), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_destinations(h, &web, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_table(h, NULL), LVS_NULL_PARAMETER);
}

/* ----- stats with real packets -------------------------------------------- */

static void send_udp(const char *ip, uint16_t port, int n) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    CHECK(inet_pton(AF_INET, ip, &to.sin_addr) == 1);
    for (int i = 0; i < n; i++) {
        CHECK(sendto(s, "ping", 4, 0, (struct sockaddr *)&to, sizeof to) == 4);
    }
    close(s);
}

/* The kernel folds its per-CPU counters into the totals it reports every
 * 2 s (the rate estimator's timer): wait until the service's totals reach
 * `packets` incoming packets, then return them. */
static lvs_service_entry wait_for_packets(lvs_handle *h, const lvs_service_key *key,
                                          uint64_t packets) {
    lvs_service_entry s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 150; i++) { /* 15 s */
        EXPECT(lvs_service_get(h, key, &s), LVS_OK);
        if (s.stats.in_packets >= packets) break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return s;
}

static void test_stats(lvs_handle *h) {
    /* 10.99.0.1 is routed out of dummy0; IPVS catches local packets to it. */
    lvs_service dns = service(key_of(LVS_PROTO_UDP, "10.99.0.1:5353"), "rr");
    lvs_destination backend = dest("10.99.0.2:5353", LVS_FWD_MASQ, 1);
    EXPECT(lvs_service_add(h, &dns), LVS_OK);
    EXPECT(lvs_destination_add(h, &dns.key, &backend), LVS_OK);
    send_udp("10.99.0.1", 5353, 3);

    lvs_service_entry s = wait_for_packets(h, &dns.key, 3);
    lvs_destination_entry d;
    CHECK(s.stats.conns == 1 && s.stats.in_packets == 3 && s.stats.in_bytes > 0);
    EXPECT(lvs_destination_get(h, &dns.key, &backend.addr, &d), LVS_OK);
    CHECK(d.stats.conns == 1 && d.stats.in_packets == 3);
    CHECK(d.conns.inactive == 1 && d.conns.active == 0); /* UDP counts as inactive */
    printf("kernel_test: after 3 datagrams: conns %llu, in %llu packets / %llu bytes\n",
           (unsigned long long)s.stats.conns, (unsigned long long)s.stats.in_packets,
           (unsigned long long)s.stats.in_bytes);

    /* Zero one service, then everything. */
    EXPECT(lvs_handle_zero(h, &dns.key), LVS_OK);
    EXPECT(lvs_service_get(h, &dns.key, &s), LVS_OK);
    CHECK(s.stats.conns == 0 && s.stats.in_packets == 0 && s.stats.in_bytes == 0);
    EXPECT(lvs_destination_get(h, &dns.key, &backend.addr, &d), LVS_OK);
    CHECK(d.stats.in_packets == 0);
    send_udp("10.99.0.1", 5353, 2);
    s = wait_for_packets(h, &dns.key, 2);
    CHECK(s.stats.in_packets == 2 && s.stats.conns == 1); /* a new socket: a new connection */
    EXPECT(lvs_handle_zero(h, NULL), LVS_OK);
    EXPECT(lvs_service_get(h, &dns.key, &s), LVS_OK);
    CHECK(s.stats.in_packets == 0);
    lvs_service_key ghost = key_of(LVS_PROTO_UDP, "10.99.0.99:53");
    EXPECT(lvs_handle_zero(h, &ghost), LVS_SERVICE_NOT_FOUND);
    lvs_service_key bad = ghost;
    bad.addr.family = 1;
    EXPECT(lvs_handle_zero(h, &bad), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_service_remove(h, &dns.key), LVS_OK);
}

/* ----- batches ------------------------------------------------------------ */

static void test_batches(lvs_handle *here, lvs_handle *in_b, lvs_handle *in_b_fd) {
    lvs_service svc = service(key_of(LVS_PROTO_TCP, "10.50.0.1:80"), "wrr");
    lvs_destination d1 = dest("10.50.1.1:80", LVS_FWD_MASQ, 1);
    lvs_destination d2 = dest("10.50.1.2:80", LVS_FWD_MASQ, 2);
    lvs_service_key ghost = key_of(LVS_PROTO_TCP, "10.50.0.99:80");
    lvs_timeouts t = {0, 0, 0};
    EXPECT(lvs_handle_timeouts(in_b, &t), LVS_OK);

    lvs_batch *b = NULL;
    EXPECT(lvs_batch_new(&b), LVS_OK);
    EXPECT(lvs_batch_add_service(b, &svc), LVS_OK);          /* 0 ok */
    EXPECT(lvs_batch_add_destination(b, &svc.key, &d1), LVS_OK); /* 1 ok */
    EXPECT(lvs_batch_add_destination(b, &svc.key, &d2), LVS_OK); /* 2 ok */
    EXPECT(lvs_batch_add_service(b, &svc), LVS_OK);          /* 3 exists */
    EXPECT(lvs_batch_add_destination(b, &ghost, &d1), LVS_OK);  /* 4 no service */
    EXPECT(lvs_batch_set_timeouts(b, &t), LVS_OK);           /* 5 ok */
    EXPECT(lvs_batch_zero(b, &svc.key), LVS_OK);             /* 6 ok */
    CHECK(lvs_batch_len(b) == 7);

    /* Into namespace B: one result per operation, failures don't hide others. */
    EXPECT(lvs_handle_apply(in_b, b, LVS_ON_ERROR_CONTINUE), LVS_SERVICE_EXISTS);
    CONTAINS(handle_error(in_b), "2 of 7 operations failed");
    CONTAINS(handle_error(in_b), "#3");
    const lvs_result want[7] = {LVS_OK, LVS_OK, LVS_OK, LVS_SERVICE_EXISTS,
                                LVS_SERVICE_NOT_FOUND, LVS_OK, LVS_OK};
    for (size_t i = 0; i < 7; i++) {
        EXPECT(lvs_batch_result(b, i), want[i]);
    }
    CHECK(lvs_batch_failures(b) == 2);
    char msg[512];
    size_t len = 0;
    EXPECT(lvs_batch_message(b, 0, msg, sizeof msg, &len), LVS_OK);
    CHECK(len == 0 && msg[0] == '\0');
    EXPECT(lvs_batch_message(b, 3, msg, sizeof msg, &len), LVS_OK);
    CONTAINS(msg, "add service TCP 10.50.0.1:80");
    CONTAINS(msg, "already exists");
    EXPECT(lvs_batch_message(b, 4, msg, sizeof msg, &len), LVS_OK);
    CONTAINS(msg, "10.50.0.99");
    EXPECT(lvs_batch_result(b, 7), LVS_OUT_OF_RANGE);

    /* Namespace B has the service, seen through both B handles; A does not. */
    lvs_destination_list *list = NULL;
    EXPECT(lvs_handle_destinations(in_b_fd, &svc.key, &list), LVS_OK);
    CHECK(lvs_destination_list_len(list) == 2);
    lvs_destination_list_free(list);
    lvs_service_entry e;
    EXPECT(lvs_service_get(here, &svc.key, &e), LVS_SERVICE_NOT_FOUND);

    /* Stop at the first failure: the rest is not attempted. */
    EXPECT(lvs_batch_clear(b), LVS_OK);
    EXPECT(lvs_batch_remove_destination(b, &svc.key, &d1.addr), LVS_OK); /* ok */
    EXPECT(lvs_batch_remove_destination(b, &svc.key, &d1.addr), LVS_OK); /* gone */
    EXPECT(lvs_batch_remove_service(b, &svc.key), LVS_OK);               /* skipped */
    EXPECT(lvs_handle_apply(in_b, b, LVS_ON_ERROR_STOP), LVS_DESTINATION_NOT_FOUND);
    EXPECT(lvs_batch_result(b, 0), LVS_OK);
    EXPECT(lvs_batch_result(b, 1), LVS_DESTINATION_NOT_FOUND);
    EXPECT(lvs_batch_result(b, 2), LVS_NOT_ATTEMPTED);
    EXPECT(lvs_batch_message(b, 2, msg, sizeof msg, &len), LVS_OK);
    CONTAINS(msg, "earlier operation");
    EXPECT(lvs_service_get(in_b, &svc.key, &e), LVS_OK); /* still there */

    /* Adding an operation clears the results; a bad on_error sends nothing. */
    EXPECT(lvs_batch_update_service(b, &svc), LVS_OK);
    EXPECT(lvs_batch_result(b, 0), LVS_NOT_ATTEMPTED);
    EXPECT(lvs_handle_apply(in_b, b, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(handle_error(in_b), "on_error");
    EXPECT(lvs_batch_result(b, 0), LVS_NOT_ATTEMPTED);
    EXPECT(lvs_handle_apply(in_b, NULL, LVS_ON_ERROR_CONTINUE), LVS_NULL_PARAMETER);
    CONTAINS(handle_error(in_b), "`batch` is NULL");

    /* Update, remove and flush as batch operations, all succeeding. */
    EXPECT(lvs_batch_clear(b), LVS_OK);
    lvs_service svc2 = svc;
    strcpy(svc2.scheduler, "lc");
    lvs_destination d2b = d2;
    d2b.weight = 9;
    EXPECT(lvs_batch_update_service(b, &svc2), LVS_OK);
    EXPECT(lvs_batch_update_destination(b, &svc.key, &d2b), LVS_OK);
    EXPECT(lvs_batch_zero(b, NULL), LVS_OK);
    EXPECT(lvs_handle_apply(in_b, b, LVS_ON_ERROR_CONTINUE), LVS_OK);
    CHECK(lvs_batch_failures(b) == 0);
    CHECK(strcmp(handle_error(in_b), "") == 0);
    EXPECT(lvs_service_get(in_b, &svc.key, &e), LVS_OK);
    CHECK(strcmp(e.service.scheduler, "lc") == 0);
    lvs_destination_entry de;
    EXPECT(lvs_destination_get(in_b, &svc.key, &d2.addr, &de), LVS_OK);
    CHECK(de.destination.weight == 9);
    EXPECT(lvs_batch_clear(b), LVS_OK);
    EXPECT(lvs_batch_remove_service(b, &svc.key), LVS_OK);
    EXPECT(lvs_batch_flush(b), LVS_OK);
    EXPECT(lvs_handle_apply(in_b, b, LVS_ON_ERROR_STOP), LVS_OK);
    CHECK(count_services(in_b) == 0);

    /* A big batch: many operations per sendmsg, all results in order. */
    EXPECT(lvs_batch_clear(b), LVS_OK);
    for (int i = 0; i < 300; i++) {
        char text[32];
        snprintf(text, sizeof text, "10.51.%d.%d:80", i / 200, i % 200 + 1);
        lvs_service s = service(key_of(LVS_PROTO_TCP, text), "rr");
        EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
        lvs_destination d = dest("10.52.0.1:8080", LVS_FWD_MASQ, 1);
        EXPECT(lvs_batch_add_destination(b, &s.key, &d), LVS_OK);
    }
    EXPECT(lvs_handle_apply(in_b, b, LVS_ON_ERROR_CONTINUE), LVS_OK);
    CHECK(lvs_batch_len(b) == 600 && lvs_batch_failures(b) == 0);
    CHECK(count_services(in_b) == 300);
    lvs_table *table = NULL;
    EXPECT(lvs_handle_table(in_b_fd, &table), LVS_OK);
    CHECK(lvs_table_len(table) == 300);
    size_t dests = 0;
    for (size_t i = 0; i < lvs_table_len(table); i++) {
        dests += lvs_destination_list_len(lvs_table_destinations(table, i));
    }
    CHECK(dests == 300);
    lvs_table_free(table);
    EXPECT(lvs_handle_flush(in_b), LVS_OK);
    CHECK(count_services(in_b_fd) == 0);
    lvs_batch_free(b);
}

/* ----- threads ------------------------------------------------------------ */

struct worker {
    const char *netns; /* NULL: the current namespace */
    int base;          /* second octet of the VIPs: disjoint per worker */
    int count;
};

/* Each worker opens its own handle (a handle is used by one thread at a
 * time) and adds, reads back and lists services concurrently. */
static void *worker_main(void *arg) {
    const struct worker *w = arg;
    lvs_handle *h = NULL;
    lvs_result r = w->netns ? lvs_handle_open_netns_path(w->netns, &h) : lvs_handle_open(&h);
    EXPECT(r, LVS_OK);
    if (r != LVS_OK) return NULL;
    for (int i = 0; i < w->count; i++) {
        char text[32];
        snprintf(text, sizeof text, "10.%d.%d.%d:80", w->base, i / 200, i % 200 + 1);
        lvs_service s = service(key_of(LVS_PROTO_TCP, text), i % 2 ? "rr" : "wlc");
        EXPECT(lvs_service_add(h, &s), LVS_OK);
        lvs_destination d = dest("10.200.0.1:80", LVS_FWD_MASQ, (uint32_t)i);
        EXPECT(lvs_destination_add(h, &s.key, &d), LVS_OK);
        lvs_destination_entry e;
        EXPECT(lvs_destination_get(h, &s.key, &d.addr, &e), LVS_OK);
        CHECK(e.destination.weight == (uint32_t)i);
        /* Errors stay with their handle and thread. */
        EXPECT(lvs_service_add(h, &s), LVS_SERVICE_EXISTS);
        CONTAINS(handle_error(h), text);
        CONTAINS(last_error(), text);
        if (i % 25 == 0) {
            /* Dumps while other threads write. No count is checked here:
             * the kernel resumes a multi-part service dump by an index
             * into a table shared by every namespace, so a dump that
             * overlaps changes (in any namespace) may skip or repeat
             * entries. The totals are checked after the threads end. */
            lvs_service_list *list = NULL;
            EXPECT(lvs_handle_services(h, &list), LVS_OK);
            CHECK(list != NULL);
            lvs_service_list_free(list);
        }
    }
    lvs_handle_free(h);
    return NULL;
}

static void run_workers(struct worker *w, int n) {
    pthread_t t[4];
    for (int i = 0; i < n; i++) CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

static void test_threads(lvs_handle *here, lvs_handle *in_b) {
    /* Two threads, two namespaces. */
    struct worker apart[2] = {{NULL, 60, 60}, {netns_b, 61, 60}};
    run_workers(apart, 2);
    CHECK(count_services(here) == 60 + 1); /* plus 10.0.0.1:80 from earlier */
    CHECK(count_services(in_b) == 60);
    /* Three threads, one namespace, disjoint services. */
    struct worker together[3] = {{netns_b, 62, 50}, {netns_b, 63, 50}, {netns_b, 64, 50}};
    run_workers(together, 3);
    CHECK(count_services(in_b) == 60 + 150);
    EXPECT(lvs_handle_flush(in_b), LVS_OK);
}

/* ----- without CAP_NET_ADMIN ----------------------------------------------- */

static int run_eperm(void) {
    lvs_handle *h = NULL;
    EXPECT(lvs_handle_open(&h), LVS_OK); /* the family lookup needs no privilege */
    lvs_service_list *list = NULL;
    EXPECT(lvs_handle_services(h, &list), LVS_PERMISSION_DENIED);
    CHECK(list == NULL);
    CONTAINS(handle_error(h), "CAP_NET_ADMIN");
    lvs_service s = service(key_of(LVS_PROTO_TCP, "10.70.0.1:80"), "rr");
    EXPECT(lvs_service_add(h, &s), LVS_PERMISSION_DENIED);
    CONTAINS(handle_error(h), "add service TCP 10.70.0.1:80");
    lvs_info info;
    EXPECT(lvs_handle_info(h, &info), LVS_PERMISSION_DENIED);
    lvs_handle_free(h);
    return check_summary("kernel_test --eperm");
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--eperm") == 0) return run_eperm();
    if (argc != 2) {
        fprintf(stderr, "usage: kernel_test NETNS_B_PATH | kernel_test --eperm\n");
        return 2;
    }
    netns_b = argv[1];
    lvs_handle *here = NULL, *in_b = NULL, *in_b_fd = NULL;
    test_open(&here, &in_b, &in_b_fd);
    if (here == NULL || in_b == NULL || in_b_fd == NULL) return check_summary("kernel_test");
    EXPECT(lvs_handle_flush(here), LVS_OK);
    EXPECT(lvs_handle_flush(in_b), LVS_OK);

    test_info_and_timeouts(here);
    test_services(here);
    test_destinations(here);
    test_stats(here);
    test_batches(here, in_b, in_b_fd);
    test_threads(here, in_b);

    EXPECT(lvs_handle_flush(here), LVS_OK);
    CHECK(count_services(here) == 0);
    EXPECT(lvs_handle_flush(NULL), LVS_NULL_PARAMETER);
    lvs_handle_free(here);
    lvs_handle_free(in_b);
    lvs_handle_free(in_b_fd);
    return check_summary("kernel_test");
}
