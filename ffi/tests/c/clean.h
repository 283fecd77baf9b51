/*
 * clean_*(p): a struct the library wrote holds no byte it did not set.
 * Each compares the struct, with memcmp, against a copy built field by
 * field in zeroed memory (reserved fields left 0): filled with 0xAA before
 * the call, any byte the library skipped shows up as a difference, and
 * under valgrind as a use of an uninitialised value.
 */
#ifndef LVS_CLEAN_H
#define LVS_CLEAN_H

#include <string.h>

#include "lvs.h"

#define ZERO(v) memset(&(v), 0, sizeof(v))
#define SAME_BYTES(a, b) (memcmp((a), (b), sizeof *(a)) == 0)

static inline lvs_addr canon_addr(const lvs_addr *a) {
    lvs_addr z;
    ZERO(z);
    z.family = a->family;
    memcpy(z.addr, a->addr, sizeof z.addr);
    z.port = a->port;
    return z;
}

static inline int clean_addr(const lvs_addr *a) {
    lvs_addr z = canon_addr(a);
    return SAME_BYTES(&z, a);
}

static inline lvs_service_key canon_key(const lvs_service_key *k) {
    lvs_service_key z;
    ZERO(z);
    z.addr = canon_addr(&k->addr);
    z.protocol = k->protocol;
    z.fwmark = k->fwmark;
    return z;
}

static inline int clean_key(const lvs_service_key *k) {
    lvs_service_key z = canon_key(k);
    return SAME_BYTES(&z, k);
}

static inline lvs_service canon_service(const lvs_service *s) {
    lvs_service z;
    ZERO(z);
    z.key = canon_key(&s->key);
    memcpy(z.scheduler, s->scheduler, sizeof z.scheduler);
    z.flags = s->flags;
    z.persistence_timeout = s->persistence_timeout;
    z.persistence_netmask = s->persistence_netmask;
    memcpy(z.pe_name, s->pe_name, sizeof z.pe_name);
    return z;
}

static inline lvs_destination canon_dest(const lvs_destination *d) {
    lvs_destination z;
    ZERO(z);
    z.addr = canon_addr(&d->addr);
    z.forwarding = d->forwarding;
    z.weight = d->weight;
    z.upper_threshold = d->upper_threshold;
    z.lower_threshold = d->lower_threshold;
    z.tun_type = d->tun_type;
    z.tun_port = d->tun_port;
    z.tun_flags = d->tun_flags;
    return z;
}

static inline lvs_stats canon_stats(const lvs_stats *s) {
    lvs_stats z;
    ZERO(z);
    z.conns = s->conns;
    z.in_packets = s->in_packets;
    z.out_packets = s->out_packets;
    z.in_bytes = s->in_bytes;
    z.out_bytes = s->out_bytes;
    z.cps = s->cps;
    z.in_pps = s->in_pps;
    z.out_pps = s->out_pps;
    z.in_bps = s->in_bps;
    z.out_bps = s->out_bps;
    z.from_32bit = s->from_32bit;
    return z;
}

static inline int clean_service_entry(const lvs_service_entry *e) {
    lvs_service_entry z;
    ZERO(z);
    z.service = canon_service(&e->service);
    z.stats = canon_stats(&e->stats);
    return SAME_BYTES(&z, e);
}

static inline int clean_dest_entry(const lvs_destination_entry *e) {
    lvs_destination_entry z;
    ZERO(z);
    z.destination = canon_dest(&e->destination);
    z.conns.active = e->conns.active;
    z.conns.inactive = e->conns.inactive;
    z.conns.persistent = e->conns.persistent;
    z.stats = canon_stats(&e->stats);
    return SAME_BYTES(&z, e);
}

static inline int clean_info(const lvs_info *i) {
    lvs_info z;
    ZERO(z);
    z.version_major = i->version_major;
    z.version_minor = i->version_minor;
    z.version_patch = i->version_patch;
    z.conn_table_size = i->conn_table_size;
    return SAME_BYTES(&z, i);
}

static inline int clean_timeouts(const lvs_timeouts *t) {
    lvs_timeouts z;
    ZERO(z);
    z.tcp = t->tcp;
    z.tcp_fin = t->tcp_fin;
    z.udp = t->udp;
    return SAME_BYTES(&z, t);
}

static inline int clean_daemon(const lvs_sync_daemon *d) {
    lvs_sync_daemon z;
    ZERO(z);
    z.role = d->role;
    memcpy(z.interface, d->interface, sizeof z.interface);
    z.sync_id = d->sync_id;
    z.group = canon_addr(&d->group);
    z.port = d->port;
    z.max_len = d->max_len;
    z.ttl = d->ttl;
    return SAME_BYTES(&z, d);
}

static inline int clean_conn(const lvs_connection *c) {
    lvs_connection z;
    ZERO(z);
    z.protocol = c->protocol;
    z.client = canon_addr(&c->client);
    z.virtual_addr = canon_addr(&c->virtual_addr);
    z.destination = canon_addr(&c->destination);
    memcpy(z.state, c->state, sizeof z.state);
    z.expires = c->expires;
    z.origin = c->origin;
    memcpy(z.pe_name, c->pe_name, sizeof z.pe_name);
    return SAME_BYTES(&z, c);
}

#endif /* LVS_CLEAN_H */
