/*
 * Create a TCP service 10.0.0.1:80 (round robin) with two NAT backends,
 * then list what the kernel has.
 *
 *     cc create_service.c $(pkg-config --cflags --libs lvs) -o create_service
 *     sudo ./create_service [NETNS_PATH]    # e.g. /run/netns/lab
 */
#include <stdio.h>
#include <string.h>

#include <lvs.h>

static int fail(const char *what, lvs_result r) {
    char msg[512];
    lvs_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "%s: %s (%s)\n", what, lvs_strerror(r), msg);
    return 1;
}

int main(int argc, char **argv) {
    lvs_handle *h = NULL;
    lvs_destination_list *list = NULL;
    lvs_result r = argc > 1 ? lvs_handle_open_netns_path(argv[1], &h) : lvs_handle_open(&h);
    if (r != LVS_OK) return fail("open", r);

    lvs_service svc;
    memset(&svc, 0, sizeof svc); /* zero = defaults: no persistence, no flags */
    svc.key.protocol = LVS_PROTO_TCP;
    lvs_addr_parse("10.0.0.1:80", &svc.key.addr);
    strcpy(svc.scheduler, "rr");
    if ((r = lvs_service_add(h, &svc)) != LVS_OK) goto out;

    const char *backends[] = {"192.168.1.2:8080", "192.168.1.3:8080"};
    for (int i = 0; i < 2; i++) {
        lvs_destination d;
        memset(&d, 0, sizeof d);
        lvs_addr_parse(backends[i], &d.addr);
        d.forwarding = LVS_FWD_MASQ;
        d.weight = 1;
        if ((r = lvs_destination_add(h, &svc.key, &d)) != LVS_OK) goto out;
    }

    if ((r = lvs_handle_destinations(h, &svc.key, &list)) != LVS_OK) goto out;
    char key[LVS_TEXT_MAX], addr[LVS_TEXT_MAX];
    lvs_service_key_format(&svc.key, key, sizeof key, NULL);
    printf("%s (%s)\n", key, svc.scheduler);
    for (size_t i = 0; i < lvs_destination_list_len(list); i++) {
        const lvs_destination_entry *e = lvs_destination_list_get(list, i);
        lvs_addr_format(&e->destination.addr, addr, sizeof addr, NULL);
        printf("  -> %s weight %u\n", addr, e->destination.weight);
    }
out:
    if (r != LVS_OK) fail("create_service", r);
    lvs_destination_list_free(list);
    lvs_handle_free(h);
    return r == LVS_OK ? 0 : 1;
}
