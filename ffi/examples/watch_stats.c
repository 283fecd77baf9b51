/*
 * Print every service's and backend's traffic counters and rates, once per
 * interval: a minimal `watch ipvsadm -Ln --stats --rate` over the C API.
 *
 *     cc watch_stats.c $(pkg-config --cflags --libs lvs) -o watch_stats
 *     sudo ./watch_stats [-n COUNT] [-i INTERVAL_MS] [NETNS_PATH]
 *
 * COUNT 0 (the default) runs until interrupted.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lvs.h>

static int fail(const char *what, lvs_result r) {
    char msg[512];
    lvs_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "%s: %s (%s)\n", what, lvs_strerror(r), msg);
    return 1;
}

static void print_stats(const char *indent, const char *name, const lvs_stats *s) {
    printf("%s%-32s conns %8llu  in %8llu pkt %10llu B  out %8llu pkt %10llu B  "
           "%llu conn/s %llu pkt/s\n",
           indent, name, (unsigned long long)s->conns, (unsigned long long)s->in_packets,
           (unsigned long long)s->in_bytes, (unsigned long long)s->out_packets,
           (unsigned long long)s->out_bytes, (unsigned long long)s->cps,
           (unsigned long long)s->in_pps);
}

int main(int argc, char **argv) {
    long count = 0, interval_ms = 1000;
    const char *netns = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            interval_ms = strtol(argv[++i], NULL, 10);
        } else {
            netns = argv[i];
        }
    }

    lvs_handle *h = NULL;
    lvs_result r = netns ? lvs_handle_open_netns_path(netns, &h) : lvs_handle_open(&h);
    if (r != LVS_OK) return fail("open", r);

    for (long round = 0; count == 0 || round < count; round++) {
        if (round > 0) {
            struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        lvs_table *table = NULL;
        if ((r = lvs_handle_table(h, &table)) != LVS_OK) {
            lvs_handle_free(h);
            return fail("read table", r);
        }
        printf("--- round %ld: %zu services\n", round + 1, lvs_table_len(table));
        for (size_t i = 0; i < lvs_table_len(table); i++) {
            const lvs_service_entry *svc = lvs_table_service(table, i);
            char name[LVS_TEXT_MAX];
            lvs_service_key_format(&svc->service.key, name, sizeof name, NULL);
            print_stats("", name, &svc->stats);
            const lvs_destination_list *dests = lvs_table_destinations(table, i);
            for (size_t j = 0; j < lvs_destination_list_len(dests); j++) {
                const lvs_destination_entry *d = lvs_destination_list_get(dests, j);
                lvs_addr_format(&d->destination.addr, name, sizeof name, NULL);
                print_stats("  -> ", name, &d->stats);
                printf("     active %u inactive %u persistent %u\n", d->conns.active,
                       d->conns.inactive, d->conns.persistent);
            }
        }
        fflush(stdout);
        lvs_table_free(table);
    }
    lvs_handle_free(h);
    return 0;
}
