/* The README's example: a TCP service with two NAT backends. */
#include <stdio.h>
#include <string.h>
#include <lvs.h>

int main(void) {
    lvs_handle *h = NULL;
    char msg[512] = "";
    lvs_result r = lvs_handle_open(&h); /* this network namespace */
    if (r != LVS_OK) lvs_last_error(msg, sizeof msg, NULL); /* read it at once */
    lvs_service svc;
    memset(&svc, 0, sizeof svc); /* zero fields are defaults: wlc, no persistence */
    svc.key.protocol = LVS_PROTO_TCP;
    lvs_addr_parse("10.0.0.1:80", &svc.key.addr);
    strcpy(svc.scheduler, "rr");
    if (r == LVS_OK) r = lvs_service_add(h, &svc);
    const char *backends[] = {"192.168.1.2:8080", "192.168.1.3:8080"};
    for (int i = 0; r == LVS_OK && i < 2; i++) {
        lvs_destination d;
        memset(&d, 0, sizeof d);
        lvs_addr_parse(backends[i], &d.addr);
        d.forwarding = LVS_FWD_MASQ;
        d.weight = 1;
        r = lvs_destination_add(h, &svc.key, &d);
    }
    if (r != LVS_OK && msg[0] == '\0') lvs_last_error(msg, sizeof msg, NULL);
    printf("%s %s\n", lvs_strerror(r), msg);
    lvs_handle_free(h);
    return r == LVS_OK ? 0 : 1;
}
