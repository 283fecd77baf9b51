/*
 * The C API without a kernel: every function's NULL, range, length and
 * UTF-8 errors, the message buffers, address text, batch building, the
 * desired state (from structs and from JSON), reconciler policies, the
 * scheduler models, the ABI (result numbers, struct layout) and per-thread
 * last errors. Runs on any host (tests/c_api.rs) and again in the guest.
 *
 * Usage: api_test
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clean.h"
#include "lvs.h"

/* ----- ABI: numbers and layout, checked by the C compiler ---------------- */

_Static_assert(LVS_OK == 0, "numbering");
_Static_assert(LVS_SERVICE_NOT_FOUND == 1, "numbering");
_Static_assert(LVS_SERVICE_EXISTS == 2, "numbering");
_Static_assert(LVS_DESTINATION_NOT_FOUND == 3, "numbering");
_Static_assert(LVS_DESTINATION_EXISTS == 4, "numbering");
_Static_assert(LVS_SCHEDULER_NOT_FOUND == 5, "numbering");
_Static_assert(LVS_DAEMON_RUNNING == 6, "numbering");
_Static_assert(LVS_DAEMON_NOT_RUNNING == 7, "numbering");
_Static_assert(LVS_NO_SUCH_INTERFACE == 8, "numbering");
_Static_assert(LVS_IPVS_UNAVAILABLE == 9, "numbering");
_Static_assert(LVS_PERMISSION_DENIED == 10, "numbering");
_Static_assert(LVS_INVALID_ARGUMENT == 11, "numbering");
_Static_assert(LVS_UNSUPPORTED == 12, "numbering");
_Static_assert(LVS_KERNEL == 13, "numbering");
_Static_assert(LVS_IO == 14, "numbering");
_Static_assert(LVS_DECODE == 15, "numbering");
_Static_assert(LVS_NOT_ATTEMPTED == 16, "numbering");
_Static_assert(LVS_MIXED_FAMILY_DESTINATIONS == 17, "numbering");
_Static_assert(LVS_PERSISTENCE_ENGINE_NOT_FOUND == 18, "numbering");
_Static_assert(LVS_INCONSISTENT_READ == 19, "numbering");
_Static_assert(LVS_NULL_PARAMETER == 100, "numbering");
_Static_assert(LVS_INVALID_UTF8 == 101, "numbering");
_Static_assert(LVS_BUFFER_TOO_SMALL == 102, "numbering");
_Static_assert(LVS_OUT_OF_RANGE == 103, "numbering");
_Static_assert(LVS_OTHER == 104, "numbering");
_Static_assert(LVS_PANIC == 105, "numbering");
_Static_assert(LVS_INVALID_JSON == 106, "numbering");
_Static_assert(sizeof(lvs_result) == 4, "lvs_result is a uint32_t");

/* The same numbers as ffi/src/types.rs's struct_layout_is_pinned. */
_Static_assert(sizeof(lvs_addr) == 20 && alignof(lvs_addr) == 2, "layout");
_Static_assert(sizeof(lvs_service_key) == 28 && alignof(lvs_service_key) == 4, "layout");
_Static_assert(sizeof(lvs_service) == 72 && alignof(lvs_service) == 4, "layout");
_Static_assert(sizeof(lvs_destination) == 44 && alignof(lvs_destination) == 4, "layout");
_Static_assert(sizeof(lvs_stats) == 88 && alignof(lvs_stats) == 8, "layout");
_Static_assert(sizeof(lvs_conn_counts) == 12, "layout");
_Static_assert(sizeof(lvs_service_entry) == 160 && alignof(lvs_service_entry) == 8, "layout");
_Static_assert(sizeof(lvs_destination_entry) == 144, "layout");
_Static_assert(sizeof(lvs_timeouts) == 12, "layout");
_Static_assert(sizeof(lvs_info) == 8, "layout");
_Static_assert(offsetof(lvs_addr, port) == 18, "layout");
_Static_assert(offsetof(lvs_service, persistence_netmask) == 52, "layout");
_Static_assert(offsetof(lvs_destination, tun_flags) == 40, "layout");
_Static_assert(offsetof(lvs_stats, from_32bit) == 80, "layout");
_Static_assert(offsetof(lvs_destination_entry, stats) == 0, "layout");
_Static_assert(offsetof(lvs_destination_entry, destination) == 100, "layout");
_Static_assert(offsetof(lvs_service_entry, service) == 88, "layout");
_Static_assert(offsetof(lvs_info, conn_table_size) == 4, "layout");
_Static_assert(sizeof(lvs_sync_daemon) == 52 && alignof(lvs_sync_daemon) == 4, "layout");
_Static_assert(sizeof(lvs_connection) == 120 && alignof(lvs_connection) == 4, "layout");
_Static_assert(offsetof(lvs_sync_daemon, group) == 24, "layout");
_Static_assert(offsetof(lvs_sync_daemon, ttl) == 48, "layout");
_Static_assert(offsetof(lvs_connection, state) == 62, "layout");
_Static_assert(offsetof(lvs_connection, expires) == 96, "layout");
_Static_assert(offsetof(lvs_connection, pe_name) == 101, "layout");

/* No padding: where the compiler would pad, a reserved field stands. */
#define END(t, f) (offsetof(t, f) + sizeof(((t *)0)->f))
_Static_assert(END(lvs_addr, addr) == offsetof(lvs_addr, reserved), "no padding");
_Static_assert(END(lvs_addr, reserved) == offsetof(lvs_addr, port), "no padding");
_Static_assert(END(lvs_addr, port) == sizeof(lvs_addr), "no padding");
_Static_assert(END(lvs_service_key, reserved) == offsetof(lvs_service_key, fwmark), "no padding");
_Static_assert(END(lvs_destination, reserved0) == offsetof(lvs_destination, tun_port), "no pad");
_Static_assert(END(lvs_destination, reserved1) == sizeof(lvs_destination), "no padding");
_Static_assert(END(lvs_stats, reserved) == sizeof(lvs_stats), "no padding");
_Static_assert(END(lvs_info, reserved) == offsetof(lvs_info, conn_table_size), "no padding");
_Static_assert(END(lvs_sync_daemon, reserved) == sizeof(lvs_sync_daemon), "no padding");
_Static_assert(END(lvs_connection, reserved0) == offsetof(lvs_connection, expires), "no pad");
_Static_assert(END(lvs_connection, reserved1) == sizeof(lvs_connection), "no padding");
#undef END

static const lvs_result ALL_RESULTS[] = {
    LVS_OK, LVS_SERVICE_NOT_FOUND, LVS_SERVICE_EXISTS, LVS_DESTINATION_NOT_FOUND,
    LVS_DESTINATION_EXISTS, LVS_SCHEDULER_NOT_FOUND, LVS_DAEMON_RUNNING,
    LVS_DAEMON_NOT_RUNNING, LVS_NO_SUCH_INTERFACE, LVS_IPVS_UNAVAILABLE,
    LVS_PERMISSION_DENIED, LVS_INVALID_ARGUMENT, LVS_UNSUPPORTED, LVS_KERNEL, LVS_IO,
    LVS_DECODE, LVS_NOT_ATTEMPTED, LVS_MIXED_FAMILY_DESTINATIONS,
    LVS_PERSISTENCE_ENGINE_NOT_FOUND, LVS_INCONSISTENT_READ, LVS_NULL_PARAMETER,
    LVS_INVALID_UTF8, LVS_BUFFER_TOO_SMALL, LVS_OUT_OF_RANGE, LVS_OTHER, LVS_PANIC,
    LVS_INVALID_JSON, LVS_AGAIN, LVS_BUSY,
};

/* ----- helpers ------------------------------------------------------------ */

static lvs_addr addr(const char *text) {
    lvs_addr a;
    memset(&a, 0xa5, sizeof a);
    EXPECT(lvs_addr_parse(text, &a), LVS_OK);
    return a;
}

static lvs_service tcp_service(const char *vip, const char *scheduler) {
    lvs_service s;
    memset(&s, 0, sizeof s);
    s.key.protocol = LVS_PROTO_TCP;
    s.key.addr = addr(vip);
    snprintf(s.scheduler, sizeof s.scheduler, "%s", scheduler);
    return s;
}

static lvs_destination backend(const char *text, uint32_t weight) {
    lvs_destination d;
    memset(&d, 0, sizeof d);
    d.addr = addr(text);
    d.forwarding = LVS_FWD_MASQ;
    d.weight = weight;
    return d;
}

/* ----- tests -------------------------------------------------------------- */

static void test_version_and_strerror(void) {
    const char *v = lvs_version();
    CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);
    /* The header's version macros are the library's version. */
    char from_macros[32];
    snprintf(from_macros, sizeof from_macros, "%d.%d.%d", LVS_VERSION_MAJOR, LVS_VERSION_MINOR,
             LVS_VERSION_PATCH);
    CHECK(v != NULL && strcmp(v, from_macros) == 0);
    for (size_t i = 0; i < sizeof ALL_RESULTS / sizeof ALL_RESULTS[0]; i++) {
        const char *s = lvs_strerror(ALL_RESULTS[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, "unknown lvs_result") != 0);
    }
    CHECK(strcmp(lvs_strerror(LVS_OK), "success") == 0);
    CHECK(strcmp(lvs_strerror(20), "unknown lvs_result") == 0);
    CHECK(strcmp(lvs_strerror(99), "unknown lvs_result") == 0);
    CHECK(strcmp(lvs_strerror(109), "unknown lvs_result") == 0);
    CHECK(strcmp(lvs_strerror(UINT32_MAX), "unknown lvs_result") == 0);
}

static void test_last_error_buffers(void) {
    /* A failing call sets the thread's message; a succeeding one clears it. */
    lvs_addr a;
    EXPECT(lvs_addr_parse("not an address", &a), LVS_INVALID_ARGUMENT);
    size_t len = 0;
    EXPECT(lvs_last_error(NULL, 0, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(len > 20);
    char *buf = malloc(len + 1);
    CHECK(buf != NULL);
    size_t len2 = 0;
    EXPECT(lvs_last_error(buf, len + 1, &len2), LVS_OK);
    CHECK(len2 == len && strlen(buf) == len);
    CONTAINS(buf, "not an address");
    /* Too small: truncated, NUL-terminated, the full length reported. */
    char small[8];
    memset(small, 'x', sizeof small);
    EXPECT(lvs_last_error(small, sizeof small, &len2), LVS_BUFFER_TOO_SMALL);
    CHECK(len2 == len && strlen(small) == sizeof small - 1);
    CHECK(strncmp(small, buf, sizeof small - 1) == 0);
    /* out_len may be NULL; buf NULL with a length is refused. */
    EXPECT(lvs_last_error(buf, len + 1, NULL), LVS_OK);
    EXPECT(lvs_last_error(NULL, 10, NULL), LVS_NULL_PARAMETER);
    /* A length no buffer can have. */
    EXPECT(lvs_last_error(buf, SIZE_MAX, NULL), LVS_INVALID_ARGUMENT);
    free(buf);
    /* Success clears it. */
    EXPECT(lvs_addr_parse("10.0.0.1:80", &a), LVS_OK);
    EXPECT(lvs_last_error(small, sizeof small, &len2), LVS_OK);
    CHECK(len2 == 0 && small[0] == '\0');
    /* A misaligned out_len is refused, not written. */
    EXPECT(lvs_addr_parse("nope", &a), LVS_INVALID_ARGUMENT);
    _Alignas(size_t) unsigned char raw[2 * sizeof(size_t)];
    EXPECT(lvs_last_error(small, sizeof small, (size_t *)(uintptr_t)(raw + 1)),
           LVS_INVALID_ARGUMENT);
}

static void test_addresses(void) {
    /* A parsed address has every byte set: no stale 0xAA in the byte
     * between addr and port. */
    const char *texts[] = {"10.0.0.1:80", "[2001:db8::1]:443", "10.0.0.1", "::"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        lvs_addr a;
        memset(&a, 0xaa, sizeof a);
        EXPECT(lvs_addr_parse(texts[i], &a), LVS_OK);
        CHECK(clean_addr(&a) && a.reserved == 0);
    }
    lvs_addr a = addr("10.0.0.1:80");
    CHECK(a.family == LVS_AF_INET && a.port == 80);
    CHECK(a.addr[0] == 10 && a.addr[3] == 1 && a.addr[4] == 0 && a.addr[15] == 0);
    a = addr("[2001:db8::1]:443");
    CHECK(a.family == LVS_AF_INET6 && a.port == 443 && a.addr[0] == 0x20 && a.addr[15] == 1);
    a = addr("192.0.2.7");
    CHECK(a.family == LVS_AF_INET && a.port == 0);
    a = addr("::1");
    CHECK(a.family == LVS_AF_INET6 && a.port == 0 && a.addr[15] == 1);

    lvs_addr untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    lvs_addr out = untouched;
    const char *bad[] = {"", "10.0.0.1:", "10.0.0.1:65536", "example.com:80", "1.2.3", "[::1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(lvs_addr_parse(bad[i], &out), LVS_INVALID_ARGUMENT);
    }
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    /* An IPv6 scope id is refused with a clear error, never dropped. */
    const char *scoped[] = {"fe80::1%2", "[fe80::1%2]:80", "[fe80::1%eth0]:80"};
    for (size_t i = 0; i < sizeof scoped / sizeof scoped[0]; i++) {
        EXPECT(lvs_addr_parse(scoped[i], &out), LVS_INVALID_ARGUMENT);
        CONTAINS(last_error(), "scope id");
    }
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    EXPECT(lvs_addr_parse("10.0.0.\xff:80", &out), LVS_INVALID_UTF8);
    CONTAINS(last_error(), "UTF-8");
    EXPECT(lvs_addr_parse(NULL, &out), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "text");
    EXPECT(lvs_addr_parse("10.0.0.1:80", NULL), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "out");

    char text[LVS_TEXT_MAX];
    size_t len = 0;
    a = addr("[2001:db8::1]:443");
    EXPECT(lvs_addr_format(&a, text, sizeof text, &len), LVS_OK);
    CHECK(strcmp(text, "[2001:db8::1]:443") == 0 && len == strlen(text));
    a = addr("10.0.0.1:80");
    EXPECT(lvs_addr_format(&a, text, sizeof text, NULL), LVS_OK);
    CHECK(strcmp(text, "10.0.0.1:80") == 0);
    /* Formatting (asking the length, a short buffer, success) leaves the
       thread's last error alone: the error being logged survives. */
    lvs_addr junk;
    EXPECT(lvs_addr_parse("not an address", &junk), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_addr_format(&a, text, 5, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(strcmp(text, "10.0") == 0 && len == 11);
    EXPECT(lvs_addr_format(&a, NULL, 0, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(len == 11);
    EXPECT(lvs_addr_format(&a, text, sizeof text, &len), LVS_OK);
    CONTAINS(last_error(), "not an address");
    EXPECT(lvs_addr_format(&a, NULL, 5, &len), LVS_NULL_PARAMETER);
    EXPECT(lvs_addr_format(NULL, text, sizeof text, &len), LVS_NULL_PARAMETER);
    lvs_addr bad_family = a;
    bad_family.family = 3;
    EXPECT(lvs_addr_format(&bad_family, text, sizeof text, &len), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "family");
    lvs_addr v4_junk = a;
    v4_junk.addr[9] = 1;
    EXPECT(lvs_addr_format(&v4_junk, text, sizeof text, &len), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "addr[4..16]");
    /* A misaligned struct pointer is refused, not read. */
    _Alignas(lvs_addr) unsigned char raw[sizeof(lvs_addr) + 2];
    memcpy(raw + 1, &a, sizeof a);
    EXPECT(lvs_addr_format((const lvs_addr *)(uintptr_t)(raw + 1), text, sizeof text, &len),
           LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "aligned");

    lvs_service_key key;
    memset(&key, 0, sizeof key);
    key.protocol = LVS_PROTO_UDP;
    key.addr = addr("[2001:db8::1]:53");
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_OK);
    CHECK(strcmp(text, "UDP [2001:db8::1]:53") == 0);
    memset(&key, 0, sizeof key);
    key.addr.family = LVS_AF_INET;
    key.fwmark = 7;
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_OK);
    CHECK(strcmp(text, "FWM 7 (IPv4)") == 0);
    EXPECT(lvs_service_key_format(&key, text, 3, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(strcmp(text, "FW") == 0);
    EXPECT(lvs_service_key_format(NULL, text, sizeof text, &len), LVS_NULL_PARAMETER);
    key.protocol = LVS_PROTO_TCP; /* with a fwmark: inconsistent */
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_INVALID_ARGUMENT);
    memset(&key, 0, sizeof key); /* neither protocol nor fwmark */
    key.addr = addr("10.0.0.1:80");
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "protocol");
    /* The longest text fits LVS_TEXT_MAX; protocols above 255 are no
     * IP protocol. */
    key.protocol = 65535;
    key.addr = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_INVALID_ARGUMENT);
    key.protocol = 255;
    EXPECT(lvs_service_key_format(&key, text, sizeof text, &len), LVS_OK);
    CHECK(len < LVS_TEXT_MAX);
}

/* Key helpers: equality and hash over the identity fields, parse as the
 * inverse of lvs_service_key_format. */
static void test_key_helpers(void) {
    const char *texts[] = {"TCP 10.0.0.1:80",   "UDP [2001:db8::1]:53", "SCTP 10.0.0.1:3868",
                           "proto 50 10.0.0.1:0", "FWM 7 (IPv4)",         "FWM 4000000000 (IPv6)"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        lvs_service_key k;
        memset(&k, 0xaa, sizeof k);
        EXPECT(lvs_service_key_parse(texts[i], &k), LVS_OK);
        CHECK(clean_key(&k));
        char text[LVS_TEXT_MAX];
        EXPECT(lvs_service_key_format(&k, text, sizeof text, NULL), LVS_OK);
        CHECK(strcmp(text, texts[i]) == 0); /* the inverse of the formatter */
        /* Equal keys, whatever their reserved bytes: equal hashes. */
        lvs_service_key copy = k;
        copy.reserved = 0x5a5a;
        copy.addr.reserved = 0x5a;
        CHECK(lvs_service_key_equal(&k, &copy));
        CHECK(lvs_service_key_hash(&k) == lvs_service_key_hash(&copy));
        for (size_t j = 0; j < sizeof texts / sizeof texts[0]; j++) {
            lvs_service_key other;
            EXPECT(lvs_service_key_parse(texts[j], &other), LVS_OK);
            CHECK(lvs_service_key_equal(&k, &other) == (i == j));
            CHECK((lvs_service_key_hash(&k) == lvs_service_key_hash(&other)) == (i == j));
        }
    }
    lvs_service_key k, want;
    memset(&want, 0, sizeof want);
    want.protocol = LVS_PROTO_TCP;
    want.addr = addr("10.0.0.1:80");
    EXPECT(lvs_service_key_parse("tcp 10.0.0.1:80", &k), LVS_OK); /* any case */
    CHECK(lvs_service_key_equal(&k, &want) && memcmp(&k, &want, sizeof k) == 0);
    /* The hash is fixed for a version: FNV-1a of the fields. */
    CHECK(lvs_service_key_hash(&want) == lvs_service_key_hash(&k));
    CHECK(lvs_service_key_hash(NULL) == 0);
    CHECK(lvs_service_key_equal(NULL, NULL) && !lvs_service_key_equal(&k, NULL) &&
          !lvs_service_key_equal(NULL, &k));
    want.addr.port = 81;
    CHECK(!lvs_service_key_equal(&k, &want));

    lvs_service_key untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    lvs_service_key out = untouched;
    const char *bad[] = {"",
                         "TCP",
                         "TCP 10.0.0.1",           /* no port */
                         "HTTP 10.0.0.1:80",
                         "proto 0 10.0.0.1:80",    /* 0 is no protocol */
                         "proto 256 10.0.0.1:80",  /* above 255 */
                         "FWM 0 (IPv4)",           /* mark 0 */
                         "FWM 7 (IPX)",
                         "TCP [fe80::1%2]:80",     /* scope id */
                         "TCP 10.0.0.1:80 extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(lvs_service_key_parse(bad[i], &out), LVS_INVALID_ARGUMENT);
    }
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    /* ipvsadm's spellings parse too: `FWM  7` is an IPv4 mark. */
    EXPECT(lvs_service_key_parse("FWM  7", &out), LVS_OK);
    CHECK(out.fwmark == 7 && out.addr.family == LVS_AF_INET);
    EXPECT(lvs_service_key_parse("-f 7 -6", &out), LVS_OK);
    CHECK(out.fwmark == 7 && out.addr.family == LVS_AF_INET6);
    out = untouched;
    EXPECT(lvs_service_key_parse("TCP 10.0.0.\xff:80", &out), LVS_INVALID_UTF8);
    EXPECT(lvs_service_key_parse(NULL, &out), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_key_parse("TCP 10.0.0.1:80", NULL), LVS_NULL_PARAMETER);
}

/* Every function that takes a handle, with a NULL handle. */
static void test_null_handle(void) {
    lvs_service svc = tcp_service("10.0.0.1:80", "rr");
    lvs_destination d = backend("10.0.1.1:80", 1);
    lvs_service_entry se;
    lvs_destination_entry de;
    lvs_service_list *sl = NULL;
    lvs_destination_list *dl = NULL;
    lvs_table *t = NULL;
    lvs_info info;
    lvs_timeouts to = {0, 0, 0};
    lvs_batch *b = NULL;
    EXPECT(lvs_batch_new(&b), LVS_OK);
    lvs_sync_daemon daemons[LVS_SYNC_DAEMONS_MAX];
    memset(daemons, 0, sizeof daemons);
    size_t n = 99;
    lvs_connection_list *cl = (lvs_connection_list *)&n; /* must become NULL */
    lvs_policy *pol = NULL;
    lvs_reconciler *r = NULL;
    lvs_desired *want = NULL;
    lvs_plan *plan = (lvs_plan *)&n;
    EXPECT(lvs_policy_new(&pol), LVS_OK);
    EXPECT(lvs_reconciler_new(pol, &r), LVS_OK);
    EXPECT(lvs_desired_new(&want), LVS_OK);

    EXPECT(lvs_handle_set_timeout(NULL, 100), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_set_read_threads(NULL, 2), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "`handle` is NULL");
    EXPECT(lvs_service_add(NULL, &svc), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_update(NULL, &svc), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_remove(NULL, &svc.key), LVS_NULL_PARAMETER);
    EXPECT(lvs_service_get(NULL, &svc.key, &se), LVS_NULL_PARAMETER);
    sl = (lvs_service_list *)&sl; /* not NULL: the call must clear it */
    EXPECT(lvs_handle_services(NULL, &sl), LVS_NULL_PARAMETER);
    CHECK(sl == NULL);
    EXPECT(lvs_destination_add(NULL, &svc.key, &d), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_update(NULL, &svc.key, &d), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_remove(NULL, &svc.key, &d.addr), LVS_NULL_PARAMETER);
    EXPECT(lvs_destination_get(NULL, &svc.key, &d.addr, &de), LVS_NULL_PARAMETER);
    dl = (lvs_destination_list *)&dl;
    EXPECT(lvs_handle_destinations(NULL, &svc.key, &dl), LVS_NULL_PARAMETER);
    CHECK(dl == NULL);
    t = (lvs_table *)&t;
    EXPECT(lvs_handle_table(NULL, &t), LVS_NULL_PARAMETER);
    CHECK(t == NULL);
    EXPECT(lvs_handle_flush(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_zero(NULL, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_info(NULL, &info), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_timeouts(NULL, &to), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_set_timeouts(NULL, &to), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_apply(NULL, b, LVS_ON_ERROR_CONTINUE), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_submit(NULL, b, LVS_ON_ERROR_CONTINUE), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_poll(NULL, b), LVS_NULL_PARAMETER);
    int fd = -1;
    EXPECT(lvs_handle_fd(NULL, &fd), LVS_NULL_PARAMETER);
    CHECK(fd == -1);
    char buf[16];
    EXPECT(lvs_handle_last_error(NULL, buf, sizeof buf, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_daemon_start(NULL, &daemons[0]), LVS_NULL_PARAMETER);
    EXPECT(lvs_daemon_stop(NULL, LVS_DAEMON_MASTER), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_daemons(NULL, daemons, LVS_SYNC_DAEMONS_MAX, &n), LVS_NULL_PARAMETER);
    CHECK(n == 99); /* nothing written before the handle is checked */
    EXPECT(lvs_handle_connections(NULL, &cl), LVS_NULL_PARAMETER);
    CHECK(cl == NULL);
    cl = (lvs_connection_list *)&n;
    EXPECT(lvs_handle_connections_with_origin(NULL, &cl), LVS_NULL_PARAMETER);
    CHECK(cl == NULL);
    CONTAINS(last_error(), "`handle` is NULL");
    /* A pass needs a handle; nothing is planned without one. */
    EXPECT(lvs_reconciler_reconcile(r, NULL, want, &plan), LVS_NULL_PARAMETER);
    CHECK(plan == NULL);
    CONTAINS(last_error(), "`handle` is NULL");
    plan = (lvs_plan *)&n;
    EXPECT(lvs_reconciler_plan(r, NULL, want, &plan), LVS_NULL_PARAMETER);
    CHECK(plan == NULL);
    lvs_handle_free(NULL);
    lvs_batch_free(b);
    lvs_desired_free(want);
    lvs_reconciler_free(r);
    lvs_policy_free(pol);
}

static void test_lists_without_a_list(void) {
    CHECK(lvs_service_list_len(NULL) == 0);
    CHECK(lvs_service_list_get(NULL, 0) == NULL);
    lvs_service_list_free(NULL);
    CHECK(lvs_destination_list_len(NULL) == 0);
    CHECK(lvs_destination_list_get(NULL, 0) == NULL);
    lvs_destination_list_free(NULL);
    CHECK(lvs_table_len(NULL) == 0);
    CHECK(lvs_table_service(NULL, 0) == NULL);
    CHECK(lvs_table_destinations(NULL, 0) == NULL);
    lvs_service_key k;
    memset(&k, 0, sizeof k);
    CHECK(lvs_service_list_find(NULL, &k) == NULL);
    CHECK(lvs_destination_list_find(NULL, &k.addr) == NULL);
    CHECK(lvs_table_find(NULL, &k) == 0);
    lvs_table_free(NULL);
    CHECK(lvs_connection_list_len(NULL) == 0);
    CHECK(lvs_connection_list_get(NULL, 0) == NULL);
    char buf[8];
    size_t len = 77;
    EXPECT(lvs_connection_list_pe_data(NULL, 0, buf, sizeof buf, &len), LVS_NULL_PARAMETER);
    CHECK(len == 77);
    lvs_connection_list_free(NULL);
}

/* Opening without a reachable IPVS, or with bad arguments. */
static void test_open_errors(void) {
    lvs_handle *h = (lvs_handle *)&h; /* must be overwritten with NULL */
    EXPECT(lvs_handle_open_netns_path("/nonexistent/netns", &h), LVS_IO);
    CHECK(h == NULL);
    CONTAINS(last_error(), "/nonexistent/netns");
    EXPECT(lvs_handle_open_netns_path(NULL, &h), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_open_netns_path("/proc/self/ns/net", NULL), LVS_NULL_PARAMETER);
    /* Not a namespace: a regular file. */
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    h = (lvs_handle *)&h;
    EXPECT(lvs_handle_open_netns_fd(fd, &h), LVS_IO);
    CHECK(h == NULL);
    close(fd);
    EXPECT(lvs_handle_open_netns_fd(-1, &h), LVS_INVALID_ARGUMENT);
    CHECK(h == NULL);
    EXPECT(lvs_handle_open_netns_fd(0, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_handle_open(NULL), LVS_NULL_PARAMETER);
    /* Module names are checked before anything runs. */
    EXPECT(lvs_kmod_ensure_loaded(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_kmod_ensure_loaded(""), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_kmod_ensure_loaded("-r"), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_kmod_ensure_loaded("ip_vs rr"), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "only letters, digits");
}

/* The current namespace: works where the kernel has IPVS, else says so. */
static void test_open_here(void) {
    lvs_handle *h = NULL;
    lvs_result r = lvs_handle_open(&h);
    if (r == LVS_OK) {
        CHECK(h != NULL);
        printf("api_test: this kernel has IPVS; lvs_handle_open succeeded\n");
        lvs_handle_free(h);
    } else {
        EXPECT(r, LVS_IPVS_UNAVAILABLE);
        CHECK(h == NULL);
        CONTAINS(last_error(), "ip_vs");
        printf("api_test: no IPVS here: %s\n", last_error());
    }
}

/* "Structs that grow": a struct of another size than this header's, with
 * the size passed. A shorter (older) one takes defaults for what it lacks;
 * a longer (newer) one is fine while its extra bytes are 0. */
static void test_sized_structs(void) {
    struct {
        lvs_service s;
        uint32_t future;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.s = tcp_service("10.0.0.1:80", "rr");
    lvs_batch *b = NULL;
    EXPECT(lvs_batch_new(&b), LVS_OK);
    EXPECT(lvs_batch_add_service_sized(b, &newer.s, sizeof newer), LVS_OK);
    newer.future = 7;
    EXPECT(lvs_batch_add_service_sized(b, &newer.s, sizeof newer), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "byte 72 of 76 is not 0");
    /* The service's key and scheduler only (an older layout's prefix). */
    size_t prefix = offsetof(lvs_service, flags);
    EXPECT(lvs_batch_add_service_sized(b, &newer.s, prefix), LVS_OK);
    EXPECT(lvs_batch_update_service_sized(b, &newer.s, 0), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_batch_add_service_sized(b, NULL, sizeof newer), LVS_NULL_PARAMETER);
    lvs_destination d = backend("10.0.1.1:8080", 3);
    EXPECT(lvs_batch_add_destination_sized(b, &newer.s.key, &d, sizeof d), LVS_OK);
    /* Cut before the weight: weight 0 (quiesced), still valid. */
    EXPECT(lvs_batch_update_destination_sized(b, &newer.s.key, &d,
                                              offsetof(lvs_destination, weight)),
           LVS_OK);
    CHECK(lvs_batch_len(b) == 4);
    lvs_batch_free(b);

    lvs_desired *want = NULL;
    EXPECT(lvs_desired_new(&want), LVS_OK);
    lvs_destination ds[2] = {backend("10.0.1.1:80", 1), backend("10.0.1.2:80", 2)};
    EXPECT(lvs_desired_add_service_sized(want, &newer.s, sizeof newer.s, ds, 2, 0),
           LVS_INVALID_ARGUMENT);
    EXPECT(lvs_desired_add_service_sized(want, &newer.s, sizeof newer.s, NULL, 0, 0), LVS_OK);
    CHECK(lvs_desired_len(want) == 1);
    lvs_desired_free(want);
}

static void test_batch_building(void) {
    lvs_batch *b = NULL;
    EXPECT(lvs_batch_new(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_new(&b), LVS_OK);
    CHECK(b != NULL && lvs_batch_len(b) == 0 && lvs_batch_failures(b) == 0);
    CHECK(lvs_batch_len(NULL) == 0 && lvs_batch_failures(NULL) == 0);
    CHECK(lvs_batch_not_attempted(NULL) == 0 && lvs_batch_not_attempted(b) == 0);

    lvs_service svc = tcp_service("10.0.0.1:80", "rr");
    lvs_destination d = backend("10.0.1.1:8080", 3);
    lvs_timeouts t = {900, 120, 300};
    EXPECT(lvs_batch_add_service(b, &svc), LVS_OK);
    EXPECT(lvs_batch_update_service(b, &svc), LVS_OK);
    EXPECT(lvs_batch_add_destination(b, &svc.key, &d), LVS_OK);
    EXPECT(lvs_batch_update_destination(b, &svc.key, &d), LVS_OK);
    EXPECT(lvs_batch_remove_destination(b, &svc.key, &d.addr), LVS_OK);
    EXPECT(lvs_batch_zero(b, &svc.key), LVS_OK);
    EXPECT(lvs_batch_zero(b, NULL), LVS_OK);
    EXPECT(lvs_batch_remove_service(b, &svc.key), LVS_OK);
    EXPECT(lvs_batch_set_timeouts(b, &t), LVS_OK);
    EXPECT(lvs_batch_flush(b), LVS_OK);
    CHECK(lvs_batch_len(b) == 10);

    /* Not applied yet: every result is "not attempted", and none is a
     * failure (the counting rule of lvs_batch_failures). */
    CHECK(lvs_batch_not_attempted(b) == 10 && lvs_batch_failures(b) == 0);
    EXPECT(lvs_batch_result(b, 0), LVS_NOT_ATTEMPTED);
    EXPECT(lvs_batch_result(b, 9), LVS_NOT_ATTEMPTED);
    EXPECT(lvs_batch_result(b, 10), LVS_OUT_OF_RANGE);
    EXPECT(lvs_batch_result(b, SIZE_MAX), LVS_OUT_OF_RANGE);
    EXPECT(lvs_batch_result(NULL, 0), LVS_NULL_PARAMETER);
    char msg[256];
    size_t len = 0;
    EXPECT(lvs_batch_message(b, 0, msg, sizeof msg, &len), LVS_OK);
    CONTAINS(msg, "not attempted");
    EXPECT(lvs_batch_message(b, 0, msg, 4, &len), LVS_BUFFER_TOO_SMALL);
    CHECK(strlen(msg) == 3);
    EXPECT(lvs_batch_message(b, 10, msg, sizeof msg, &len), LVS_OUT_OF_RANGE);
    EXPECT(lvs_batch_message(NULL, 0, msg, sizeof msg, &len), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_message(b, 0, NULL, 0, &len), LVS_BUFFER_TOO_SMALL);

    /* Invalid operations are refused at once and not queued. */
    lvs_service bad = svc;
    bad.key.addr.family = 99;
    EXPECT(lvs_batch_add_service(b, &bad), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "LVS_AF_INET");
    bad = svc;
    bad.persistence_timeout = 4294967; /* one above the kernel-safe maximum */
    bad.persistence_timeout += 1;
    EXPECT(lvs_batch_update_service(b, &bad), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "persistence");
    lvs_destination heavy = d;
    heavy.weight = 0x80000000u;
    EXPECT(lvs_batch_add_destination(b, &svc.key, &heavy), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "weight");
    lvs_destination thresholds = d;
    thresholds.lower_threshold = 10;
    thresholds.upper_threshold = 5;
    EXPECT(lvs_batch_update_destination(b, &svc.key, &thresholds), LVS_INVALID_ARGUMENT);
    lvs_destination v6 = backend("[2001:db8::5]:80", 1); /* v6 dest, v4 service, NAT */
    EXPECT(lvs_batch_add_destination(b, &svc.key, &v6), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "tunnel");
    lvs_addr junk = d.addr;
    junk.addr[7] = 1;
    EXPECT(lvs_batch_remove_destination(b, &svc.key, &junk), LVS_INVALID_ARGUMENT);
    lvs_service_key fw0;
    memset(&fw0, 0, sizeof fw0);
    fw0.addr.family = LVS_AF_INET;
    EXPECT(lvs_batch_remove_service(b, &fw0), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_batch_zero(b, &fw0), LVS_INVALID_ARGUMENT);
    lvs_timeouts big = {0, 0, 2147484};
    EXPECT(lvs_batch_set_timeouts(b, &big), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "timeouts.udp");
    CHECK(lvs_batch_len(b) == 10);

    /* NULL arguments. */
    EXPECT(lvs_batch_add_service(NULL, &svc), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_add_service(b, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_update_service(b, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_remove_service(b, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_add_destination(b, NULL, &d), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_add_destination(b, &svc.key, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_update_destination(b, &svc.key, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_remove_destination(b, &svc.key, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_set_timeouts(b, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_flush(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_zero(NULL, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_batch_clear(NULL), LVS_NULL_PARAMETER);
    CHECK(lvs_batch_len(b) == 10);

    EXPECT(lvs_batch_clear(b), LVS_OK);
    CHECK(lvs_batch_len(b) == 0);
    lvs_batch_free(b);
}

/* Every way a struct from C can be wrong, through lvs_batch_add_service /
 * _destination (the same conversion every handle call uses). */
static void test_struct_validation(void) {
    lvs_batch *b = NULL;
    EXPECT(lvs_batch_new(&b), LVS_OK);
    lvs_service ok = tcp_service("10.0.0.1:80", "");

    lvs_service s = ok; /* "" is wlc */
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s = ok;
    memset(s.scheduler, 'r', sizeof s.scheduler); /* no NUL */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "NUL-terminated");
    s = ok;
    strcpy(s.scheduler, "r\xc3"); /* truncated UTF-8 */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_UTF8);
    s = ok;
    strcpy(s.scheduler, "bad name!");
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s = ok;
    strcpy(s.pe_name, "\xff");
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_UTF8);
    s = ok;
    strcpy(s.pe_name, "sip"); /* needs persistence */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s.persistence_timeout = 60;
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s = ok;
    s.flags = 0x1; /* the kernel's PERSISTENT bit is not a flag here */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "persistence_timeout");
    s.flags = LVS_SVC_F_SCHED_FALLBACK; /* wlc has no such flag */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    strcpy(s.scheduler, "sh");
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s.flags = LVS_SVC_F_ONEPACKET; /* TCP */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s = ok;
    s.persistence_netmask = 0xffffff00; /* without a timeout */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s.persistence_timeout = 300;
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s = ok;
    s.key.protocol = 0;
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s = ok;
    s.key.fwmark = 1; /* with an address and protocol */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    memset(&s.key, 0, sizeof s.key);
    s.key.fwmark = 1;
    s.key.addr.family = LVS_AF_INET6;
    s.persistence_timeout = 60;
    s.persistence_netmask = 300; /* IPv6 prefix > 128 */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s.persistence_netmask = 64;
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s = ok;
    s.key.protocol = LVS_PROTO_SCTP;
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);

    /* Issue 16 item 7: values the kernel would store but never use. */
    const uint16_t protocols[] = {256, 300, 65535};
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        s = ok;
        s.key.protocol = protocols[i]; /* IP protocols are 8 bits */
        EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
        CONTAINS(last_error(), "1..=255");
        EXPECT(lvs_batch_remove_service(b, &s.key), LVS_INVALID_ARGUMENT);
        lvs_destination d1 = backend("10.0.1.1:80", 1);
        EXPECT(lvs_batch_add_destination(b, &s.key, &d1), LVS_INVALID_ARGUMENT);
    }
    s = ok;
    s.key.protocol = 255;
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);
    s = ok;
    s.persistence_timeout = 60;
    s.persistence_netmask = 0xff00ff00u; /* 255.0.255.0: not a prefix */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "not a prefix");
    s.persistence_netmask = 0x000000ffu; /* 0.0.0.255 */
    EXPECT(lvs_batch_add_service(b, &s), LVS_INVALID_ARGUMENT);
    s.persistence_netmask = 0xfffffe00u; /* /23 */
    EXPECT(lvs_batch_add_service(b, &s), LVS_OK);

    lvs_destination d = backend("10.0.1.1:80", 1);
    /* LVS_FWD_LOCAL: only the namespace knows its addresses, so any
     * address is taken (lvs.h says the kernel does not use it). */
    lvs_destination local = d;
    local.forwarding = LVS_FWD_LOCAL;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &local), LVS_OK);
    lvs_destination bad = d;
    bad.forwarding = 7;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "LVS_FWD_MASQ");
    bad = d;
    bad.tun_type = LVS_TUN_GRE; /* tunnel fields without tunnel forwarding */
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    bad = d;
    bad.forwarding = LVS_FWD_TUNNEL;
    bad.tun_type = 9;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    bad.tun_type = LVS_TUN_GUE;
    bad.tun_port = 0; /* GUE needs a port */
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    bad.tun_port = 6080;
    bad.tun_flags = LVS_TUN_F_CSUM | LVS_TUN_F_REMCSUM;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    bad.tun_flags = LVS_TUN_F_REMCSUM;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_OK);
    bad.tun_type = LVS_TUN_GRE; /* GRE has no port */
    bad.tun_flags = LVS_TUN_F_CSUM;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    bad.tun_port = 0;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_OK);
    bad.tun_type = LVS_TUN_IPIP; /* IPIP has no flags */
    EXPECT(lvs_batch_add_destination(b, &ok.key, &bad), LVS_INVALID_ARGUMENT);
    lvs_destination v6 = backend("[2001:db8::5]:80", 1); /* mixed family over a tunnel */
    v6.forwarding = LVS_FWD_TUNNEL;
    EXPECT(lvs_batch_add_destination(b, &ok.key, &v6), LVS_OK);
    lvs_destination noaddr;
    memset(&noaddr, 0, sizeof noaddr); /* family 0 */
    EXPECT(lvs_batch_add_destination(b, &ok.key, &noaddr), LVS_INVALID_ARGUMENT);
    lvs_batch_free(b);
}

/* ----- the desired state -------------------------------------------------- */

/* The same two services as JSON_TWO. */
static const char JSON_TWO[] =
    "{ \"services\": ["
    "  { \"key\": { \"addr\": { \"protocol\": \"tcp\", \"addr\": \"10.0.0.1:80\" } },"
    "    \"scheduler\": \"rr\","
    "    \"destinations\": [ { \"addr\": \"192.168.1.2:8080\", \"weight\": 3 },"
    "                        { \"addr\": \"192.168.1.3:8080\", \"forwarding\": \"directroute\" } ] },"
    "  { \"key\": { \"fwmark\": { \"family\": \"inet\", \"mark\": 7 } },"
    "    \"persistence\": { \"timeout\": 300, \"netmask\": { \"v4\": \"255.255.255.0\" } } } ] }";

static void test_desired(void) {
    lvs_desired *d = (lvs_desired *)&d;
    EXPECT(lvs_desired_new(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_desired_new(&d), LVS_OK);
    CHECK(d != NULL && lvs_desired_len(d) == 0);
    CHECK(lvs_desired_len(NULL) == 0);

    lvs_service web = tcp_service("10.0.0.1:80", "rr");
    lvs_destination two[2] = {backend("192.168.1.2:8080", 3), backend("192.168.1.3:8080", 1)};
    EXPECT(lvs_desired_add_service(d, &web, two, 2), LVS_OK);
    CHECK(lvs_desired_len(d) == 1);
    /* A service with no destinations: NULL is fine with a count of 0. */
    lvs_service empty = tcp_service("10.0.0.2:80", "");
    EXPECT(lvs_desired_add_service(d, &empty, NULL, 0), LVS_OK);
    CHECK(lvs_desired_len(d) == 2);

    /* Refused, and nothing added. */
    EXPECT(lvs_desired_add_service(d, &web, NULL, 0), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "already in the desired state");
    lvs_service other = tcp_service("10.0.0.3:80", "rr");
    lvs_destination twice[2] = {two[0], two[0]};
    EXPECT(lvs_desired_add_service(d, &other, twice, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "listed twice");
    lvs_destination heavy[2] = {two[0], backend("192.168.1.4:80", 0x80000000u)};
    EXPECT(lvs_desired_add_service(d, &other, heavy, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "weight");
    lvs_destination bad_fwd[2] = {two[0], two[1]};
    bad_fwd[1].forwarding = 9;
    EXPECT(lvs_desired_add_service(d, &other, bad_fwd, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "dests[1]");
    lvs_destination v6 = backend("[2001:db8::5]:80", 1); /* NAT across families */
    EXPECT(lvs_desired_add_service(d, &other, &v6, 1), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "tunnel");
    lvs_service bad = other;
    bad.flags = LVS_SVC_F_ONEPACKET; /* TCP */
    EXPECT(lvs_desired_add_service(d, &bad, NULL, 0), LVS_INVALID_ARGUMENT);
    bad = other;
    strcpy(bad.scheduler, "\xff");
    EXPECT(lvs_desired_add_service(d, &bad, NULL, 0), LVS_INVALID_UTF8);
    EXPECT(lvs_desired_add_service(d, &other, two, SIZE_MAX), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "larger than any array");
    EXPECT(lvs_desired_add_service(d, &other, NULL, 1), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "`dests` is NULL");
    EXPECT(lvs_desired_add_service(d, NULL, two, 2), LVS_NULL_PARAMETER);
    EXPECT(lvs_desired_add_service(NULL, &other, two, 2), LVS_NULL_PARAMETER);
    CHECK(lvs_desired_len(d) == 2);

    /* Iterate, export, remove, replace. */
    lvs_service_key k;
    EXPECT(lvs_desired_key(d, 1, &k), LVS_OK);
    CHECK(lvs_service_key_equal(&k, &empty.key));
    EXPECT(lvs_desired_key(d, 2, &k), LVS_OUT_OF_RANGE);
    EXPECT(lvs_desired_key(NULL, 0, &k), LVS_NULL_PARAMETER);
    size_t need = 0;
    EXPECT(lvs_desired_to_json(d, NULL, 0, &need), LVS_BUFFER_TOO_SMALL);
    char json[1024];
    CHECK(need > 0 && need < sizeof json);
    EXPECT(lvs_desired_to_json(d, json, sizeof json, NULL), LVS_OK);
    CONTAINS(json, "\"192.168.1.2:8080\"");
    lvs_desired *back = NULL; /* JSON out, JSON in: the same state */
    EXPECT(lvs_desired_from_json(json, strlen(json), &back), LVS_OK);
    char again[1024];
    EXPECT(lvs_desired_to_json(back, again, sizeof again, NULL), LVS_OK);
    CHECK(strcmp(json, again) == 0 && lvs_desired_len(back) == 2);
    lvs_desired_free(back);
    EXPECT(lvs_desired_remove_service(d, &web.key), LVS_OK);
    EXPECT(lvs_desired_remove_service(d, &web.key), LVS_SERVICE_NOT_FOUND);
    CHECK(lvs_desired_len(d) == 1);
    web.persistence_timeout = 60; /* replaced: removed, then added anew */
    EXPECT(lvs_desired_add_service(d, &web, two, 1), LVS_OK);
    EXPECT(lvs_desired_to_json(d, json, sizeof json, NULL), LVS_OK);
    CONTAINS(json, "\"timeout\":60");
    CHECK(strstr(json, "192.168.1.3") == NULL);
    /* Replace in place: the key stays at its index, the rest is new. */
    EXPECT(lvs_desired_key(d, 1, &k), LVS_OK);
    CHECK(lvs_service_key_equal(&k, &web.key));
    strcpy(web.scheduler, "wlc");
    EXPECT(lvs_desired_replace_service(d, &web, two, 2), LVS_OK);
    CHECK(lvs_desired_len(d) == 2);
    EXPECT(lvs_desired_key(d, 1, &k), LVS_OK);
    CHECK(lvs_service_key_equal(&k, &web.key));
    EXPECT(lvs_desired_to_json(d, json, sizeof json, NULL), LVS_OK);
    CONTAINS(json, "\"wlc\"");
    CONTAINS(json, "192.168.1.3");
    EXPECT(lvs_desired_replace_service(d, &web, twice, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "listed twice");
    EXPECT(lvs_desired_to_json(d, again, sizeof again, NULL), LVS_OK);
    CHECK(strcmp(json, again) == 0); /* unchanged by the refused call */
    EXPECT(lvs_desired_replace_service(d, &other, NULL, 0), LVS_SERVICE_NOT_FOUND);
    EXPECT(lvs_desired_replace_service_sized(d, &web, sizeof web, two, 2, sizeof two[0]),
           LVS_OK);
    EXPECT(lvs_desired_replace_service(NULL, &web, NULL, 0), LVS_NULL_PARAMETER);
    EXPECT(lvs_desired_to_json(NULL, json, sizeof json, NULL), LVS_NULL_PARAMETER);
    lvs_desired_free(d);
    lvs_desired_free(NULL);

    /* From JSON: the length counts, no NUL is needed. */
    lvs_desired *j = NULL;
    EXPECT(lvs_desired_from_json(JSON_TWO, strlen(JSON_TWO), &j), LVS_OK);
    CHECK(j != NULL && lvs_desired_len(j) == 2);
    lvs_desired_free(j);
    const char padded[] = "{\"services\":[]}trailing garbage";
    EXPECT(lvs_desired_from_json(padded, 15, &j), LVS_OK);
    CHECK(lvs_desired_len(j) == 0);
    lvs_desired_free(j);
    EXPECT(lvs_desired_from_json(padded, sizeof padded - 1, &j), LVS_INVALID_JSON);
    CHECK(j == NULL);
    CONTAINS(last_error(), "trailing characters");

    /* Malformed: serde's message with line and column; *out is NULL. */
    const char broken[] = "{ \"services\": [\n  { \"key\": } ] }";
    j = (lvs_desired *)&j;
    EXPECT(lvs_desired_from_json(broken, strlen(broken), &j), LVS_INVALID_JSON);
    CHECK(j == NULL);
    CONTAINS(last_error(), "desired state JSON");
    CONTAINS(last_error(), "line 2 column");
    const char shape[] = "{ \"services\": 5 }";
    EXPECT(lvs_desired_from_json(shape, strlen(shape), &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "invalid type");
    const char proto[] =
        "{\"services\":[{\"key\":{\"addr\":{\"protocol\":\"tcpp\",\"addr\":\"10.0.0.1:80\"}}}]}";
    EXPECT(lvs_desired_from_json(proto, strlen(proto), &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "tcpp");
    const char sched[] = "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":1}},"
                         "\"scheduler\":{\"custom\":\"no good\"}}]}";
    EXPECT(lvs_desired_from_json(sched, strlen(sched), &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "scheduler");
    /* Well-formed but invalid: LVS_INVALID_ARGUMENT. */
    const char heavy_json[] =
        "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":1}},"
        "\"destinations\":[{\"addr\":\"10.1.1.1:0\",\"weight\":2147483648}]}]}";
    EXPECT(lvs_desired_from_json(heavy_json, strlen(heavy_json), &j), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "weight");
    CHECK(j == NULL);
    const char dup_json[] = "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":1}}},"
                            "{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":1}}}]}";
    EXPECT(lvs_desired_from_json(dup_json, strlen(dup_json), &j), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "listed twice");
    const char zero_mark[] = "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":0}}}]}";
    EXPECT(lvs_desired_from_json(zero_mark, strlen(zero_mark), &j), LVS_INVALID_ARGUMENT);
    /* A misspelt or missing key is an error, never a default or an empty
     * state that would remove every service in scope. */
    const char misspelt[] = "{\"servces\":[]}";
    EXPECT(lvs_desired_from_json(misspelt, strlen(misspelt), &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "servces");
    CHECK(j == NULL);
    EXPECT(lvs_desired_from_json("{}", 2, &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "services");
    const char weight_typo[] = "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\",\"mark\":1}},"
                               "\"destinations\":[{\"addr\":\"10.1.1.1:0\",\"wieght\":0}]}]}";
    EXPECT(lvs_desired_from_json(weight_typo, strlen(weight_typo), &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "wieght");
    /* Not UTF-8, empty, NULL. */
    const char latin1[] = "{\"services\":[{\"key\":{\"fwmark\":{\"family\":\"inet\xe9\"}}}]}";
    EXPECT(lvs_desired_from_json(latin1, strlen(latin1), &j), LVS_INVALID_UTF8);
    CONTAINS(last_error(), "`json` is not valid UTF-8");
    EXPECT(lvs_desired_from_json(NULL, 0, &j), LVS_INVALID_JSON);
    CONTAINS(last_error(), "EOF");
    EXPECT(lvs_desired_from_json(NULL, 5, &j), LVS_NULL_PARAMETER);
    EXPECT(lvs_desired_from_json(JSON_TWO, SIZE_MAX, &j), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_desired_from_json(JSON_TWO, strlen(JSON_TWO), NULL), LVS_NULL_PARAMETER);
    CHECK(j == NULL);
}

/* ----- policies ------------------------------------------------------------- */

static void test_policy(void) {
    lvs_policy *p = NULL;
    EXPECT(lvs_policy_new(NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_policy_new(&p), LVS_OK);
    CHECK(p != NULL);

    EXPECT(lvs_policy_scope_add_prefix(p, "10.96.0.0/12"), LVS_OK);
    EXPECT(lvs_policy_scope_add_prefix(p, "2001:db8::/64"), LVS_OK);
    EXPECT(lvs_policy_scope_add_prefix(p, "10.96.0.1"), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "prefix length");
    EXPECT(lvs_policy_scope_add_prefix(p, "10.0.0.0/33"), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_policy_scope_add_prefix(p, "10.0.0.0/8\xff"), LVS_INVALID_UTF8);
    EXPECT(lvs_policy_scope_add_prefix(p, NULL), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "`prefix` is NULL");
    EXPECT(lvs_policy_scope_add_prefix(NULL, "10.0.0.0/8"), LVS_NULL_PARAMETER);

    EXPECT(lvs_policy_scope_add_fwmarks(p, 1000, 1999), LVS_OK);
    EXPECT(lvs_policy_scope_add_fwmarks(p, 5, 5), LVS_OK);
    EXPECT(lvs_policy_scope_add_fwmarks(p, 6, 5), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "above");
    EXPECT(lvs_policy_scope_add_fwmarks(NULL, 1, 2), LVS_NULL_PARAMETER);

    /* Read back as JSON, which lvs_policy_from_json takes again. */
    char pj[1024];
    EXPECT(lvs_policy_to_json(p, pj, sizeof pj, NULL), LVS_OK);
    CONTAINS(pj, "10.96.0.0/12");
    CONTAINS(pj, "1999");
    lvs_policy *p2 = NULL;
    EXPECT(lvs_policy_from_json(pj, strlen(pj), &p2), LVS_OK);
    char pj2[1024];
    EXPECT(lvs_policy_to_json(p2, pj2, sizeof pj2, NULL), LVS_OK);
    CHECK(strcmp(pj, pj2) == 0);
    lvs_policy_free(p2);
    EXPECT(lvs_policy_to_json(NULL, pj, sizeof pj, NULL), LVS_NULL_PARAMETER);

    lvs_service svc = tcp_service("192.0.2.1:80", "rr");
    EXPECT(lvs_policy_scope_add_service(p, &svc.key), LVS_OK);
    lvs_service_key bad = svc.key;
    bad.protocol = 0; /* neither protocol nor fwmark */
    EXPECT(lvs_policy_scope_add_service(p, &bad), LVS_INVALID_ARGUMENT);
    bad = svc.key;
    bad.addr.addr[8] = 1; /* junk after an IPv4 address */
    EXPECT(lvs_policy_scope_add_service(p, &bad), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_policy_scope_add_service(p, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_policy_scope_add_service(NULL, &svc.key), LVS_NULL_PARAMETER);

    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_ALL, LVS_DRAIN_GRACEFUL), LVS_OK);
    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_UDP | LVS_DRAIN_SCTP, LVS_DRAIN_IMMEDIATE),
           LVS_OK);
    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_TCP | LVS_DRAIN_FWMARK | LVS_DRAIN_OTHER,
                                     LVS_DRAIN_GRACEFUL),
           LVS_OK);
    EXPECT(lvs_policy_set_drain_mode(p, 0, LVS_DRAIN_GRACEFUL), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_ALL + 1, LVS_DRAIN_GRACEFUL),
           LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "LVS_DRAIN_TCP");
    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_TCP, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "LVS_DRAIN_GRACEFUL");
    EXPECT(lvs_policy_set_drain_mode(p, LVS_DRAIN_TCP, UINT32_MAX), LVS_INVALID_ARGUMENT);
    EXPECT(lvs_policy_set_drain_mode(NULL, LVS_DRAIN_TCP, LVS_DRAIN_GRACEFUL),
           LVS_NULL_PARAMETER);

    EXPECT(lvs_policy_set_drain_timeout(p, 60000), LVS_OK);
    EXPECT(lvs_policy_set_drain_timeout(p, 0), LVS_OK);
    EXPECT(lvs_policy_set_drain_timeout(p, UINT64_MAX), LVS_OK);
    EXPECT(lvs_policy_set_drain_timeout(NULL, 1), LVS_NULL_PARAMETER);

    EXPECT(lvs_policy_set_service_removal(p, LVS_SERVICE_REMOVAL_DRAIN), LVS_OK);
    EXPECT(lvs_policy_set_service_removal(p, LVS_SERVICE_REMOVAL_IMMEDIATE), LVS_OK);
    EXPECT(lvs_policy_set_service_removal(p, 2), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "LVS_SERVICE_REMOVAL_DRAIN");
    EXPECT(lvs_policy_set_service_removal(NULL, 0), LVS_NULL_PARAMETER);
    lvs_policy_free(p);
    lvs_policy_free(NULL);

    /* From JSON. */
    const char json[] = "{ \"scope\": { \"any\": [ { \"prefixes\": [\"10.0.0.0/8\"] },"
                        "  { \"fwmarks\": { \"start\": 1, \"end\": 9 } } ] },"
                        "  \"drain\": { \"udp\": \"graceful\", \"timeout\": 60, "
                        "\"services\": \"drain\" } }";
    p = (lvs_policy *)&p;
    EXPECT(lvs_policy_from_json(json, strlen(json), &p), LVS_OK);
    CHECK(p != NULL && p != (lvs_policy *)&p);
    EXPECT(lvs_policy_scope_add_prefix(p, "192.0.2.0/24"), LVS_OK); /* widens it */
    lvs_policy_free(p);
    EXPECT(lvs_policy_from_json("{\"scope\": \"all\"}", 16, &p), LVS_OK);
    lvs_policy_free(p);
    /* No scope is an error, never "own every service". */
    EXPECT(lvs_policy_from_json("{}", 2, &p), LVS_INVALID_JSON);
    CONTAINS(last_error(), "missing field `scope`");
    CHECK(p == NULL);
    const char no_scope[] = "{ \"drain\": { \"timeout\": \"999ms\" } }";
    EXPECT(lvs_policy_from_json(no_scope, strlen(no_scope), &p), LVS_INVALID_JSON);
    CHECK(p == NULL);
    const char bad_scope[] = "{ \"scope\": { \"prefixes\": [\"10.0.0.0/99\"] } }";
    EXPECT(lvs_policy_from_json(bad_scope, strlen(bad_scope), &p), LVS_INVALID_JSON);
    CHECK(p == NULL);
    CONTAINS(last_error(), "policy JSON");
    /* A fwmark range whose start is above its end is refused, as
     * lvs_policy_scope_add_fwmarks refuses it (issue 16 item 7). */
    const char empty_range[] = "{ \"scope\": { \"any\": [ { \"fwmarks\": "
                               "{ \"start\": 2000, \"end\": 1999 } } ] } }";
    p = (lvs_policy *)&p;
    EXPECT(lvs_policy_from_json(empty_range, strlen(empty_range), &p), LVS_INVALID_JSON);
    CONTAINS(last_error(), "start 2000 is above its end 1999");
    CHECK(p == NULL);
    EXPECT(lvs_policy_new(&p), LVS_OK);
    EXPECT(lvs_policy_scope_add_fwmarks(p, 2000, 1999), LVS_INVALID_ARGUMENT);
    lvs_policy_free(p);
    const char bad_mode[] = "{ \"drain\": { \"tcp\": \"slowly\" } }";
    EXPECT(lvs_policy_from_json(bad_mode, strlen(bad_mode), &p), LVS_INVALID_JSON);
    CONTAINS(last_error(), "slowly");
    const char scope_typo[] = "{ \"scop\": { \"prefixes\": [\"10.0.0.0/8\"] } }";
    EXPECT(lvs_policy_from_json(scope_typo, strlen(scope_typo), &p), LVS_INVALID_JSON);
    CONTAINS(last_error(), "scop");
    CHECK(p == NULL);
    EXPECT(lvs_policy_from_json("{\"drain\":\xc3}", 11, &p), LVS_INVALID_UTF8);
    EXPECT(lvs_policy_from_json(NULL, 0, &p), LVS_INVALID_JSON);
    EXPECT(lvs_policy_from_json(NULL, 2, &p), LVS_NULL_PARAMETER);
    EXPECT(lvs_policy_from_json("{}", 2, NULL), LVS_NULL_PARAMETER);
}

/* ----- reconcilers and plans, without a kernel -------------------------------- */

static void test_reconciler_arguments(void) {
    lvs_policy *p = NULL;
    EXPECT(lvs_policy_new(&p), LVS_OK);
    lvs_reconciler *r = (lvs_reconciler *)&r;
    /* A policy is required: the default scope is every service. */
    EXPECT(lvs_reconciler_new(NULL, &r), LVS_NULL_PARAMETER);
    CHECK(r == NULL);
    CONTAINS(last_error(), "`policy` is NULL");
    EXPECT(lvs_reconciler_new(p, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_reconciler_new(p, &r), LVS_OK);
    CHECK(r != NULL);
    lvs_policy_free(p); /* the reconciler has its copy */
    EXPECT(lvs_policy_new(&p), LVS_OK);
    EXPECT(lvs_reconciler_set_policy(r, p), LVS_OK);
    EXPECT(lvs_reconciler_set_policy(r, NULL), LVS_NULL_PARAMETER);
    EXPECT(lvs_reconciler_set_policy(NULL, p), LVS_NULL_PARAMETER);
    lvs_policy_free(p);
    lvs_reconciler_free(r);
    lvs_reconciler_free(NULL);

    /* Every plan accessor with no plan. */
    char buf[16];
    size_t len = 5;
    CHECK(lvs_plan_len(NULL) == 0);
    CHECK(lvs_plan_failures(NULL) == 0 && lvs_plan_not_attempted(NULL) == 0);
    CHECK(lvs_plan_draining(NULL) == 0);
    CHECK(lvs_plan_unmanaged(NULL) == 0);
    EXPECT(lvs_plan_result(NULL, 0), LVS_NULL_PARAMETER);
    EXPECT(lvs_plan_message(NULL, 0, buf, sizeof buf, &len), LVS_NULL_PARAMETER);
    EXPECT(lvs_plan_change(NULL, 0, buf, sizeof buf, &len), LVS_NULL_PARAMETER);
    CONTAINS(last_error(), "`plan` is NULL");
    EXPECT(lvs_plan_text(NULL, buf, sizeof buf, &len), LVS_NULL_PARAMETER);
    EXPECT(lvs_plan_ipvsadm(NULL, buf, sizeof buf, &len), LVS_NULL_PARAMETER);
    CHECK(len == 5);
    lvs_plan_free(NULL);
}

static void test_simulate(void) {
    lvs_service svc = tcp_service("10.0.0.1:80", "wrr");
    lvs_destination dests[2] = {backend("10.0.1.1:80", 1), backend("10.0.1.2:80", 3)};
    enum { N = 400 };
    lvs_addr *clients = calloc(N, sizeof *clients);
    CHECK(clients != NULL);
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "198.51.%d.%d:40000", i / 250, i % 250 + 1);
        clients[i] = addr(text);
    }
    uint64_t counts[2] = {0, 0}, none = 99;
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, counts, &none), LVS_OK);
    CHECK(counts[0] == 100 && counts[1] == 300 && none == 0);

    /* The _sized form: structs from a later, larger layout with a zero
     * tail (a 48-byte destination stride) give the same answer; a
     * non-zero tail is refused, and nothing is written. */
    struct {
        lvs_service s;
        uint64_t future;
    } big_svc;
    struct {
        lvs_destination d;
        uint32_t future;
    } big_dests[2];
    memset(&big_svc, 0, sizeof big_svc);
    memset(big_dests, 0, sizeof big_dests);
    big_svc.s = svc;
    big_dests[0].d = dests[0];
    big_dests[1].d = dests[1];
    CHECK(sizeof big_dests[0] == 48);
    counts[0] = counts[1] = 0;
    EXPECT(lvs_simulate_sized(&big_svc.s, sizeof big_svc, &big_dests[0].d, 2,
                              sizeof big_dests[0], clients, N, counts, &none),
           LVS_OK);
    CHECK(counts[0] == 100 && counts[1] == 300 && none == 0);
    big_dests[1].future = 1;
    counts[0] = counts[1] = 0;
    EXPECT(lvs_simulate_sized(&big_svc.s, sizeof big_svc, &big_dests[0].d, 2,
                              sizeof big_dests[0], clients, N, counts, &none),
           LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "dests");
    CHECK(counts[0] == 0 && counts[1] == 0);
    EXPECT(lvs_simulate_sized(&svc, 0, dests, 2, sizeof dests[0], clients, N, counts, &none),
           LVS_INVALID_ARGUMENT);

    /* Maglev: stable, weighted; unscheduled may be NULL. */
    strcpy(svc.scheduler, "mh");
    svc.flags = LVS_SVC_F_SCHED_PORT;
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, counts, NULL), LVS_OK);
    CHECK(counts[0] + counts[1] == N && counts[1] > counts[0]);
    /* Persistence: one client address, many ports, one destination. */
    strcpy(svc.scheduler, "rr");
    svc.flags = 0;
    svc.persistence_timeout = 300;
    for (int i = 0; i < N; i++) {
        clients[i].addr[3] = 9; /* same /32 for everyone ... */
        clients[i].addr[2] = 9;
        clients[i].port = (uint16_t)(1024 + i); /* ... different ports */
    }
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, counts, &none), LVS_OK);
    CHECK((counts[0] == N && counts[1] == 0) || (counts[0] == 0 && counts[1] == N));
    svc.persistence_timeout = 0;

    /* No destinations: everyone unscheduled; NULL arrays with count 0. */
    EXPECT(lvs_simulate(&svc, NULL, 0, clients, N, NULL, &none), LVS_OK);
    CHECK(none == N);
    EXPECT(lvs_simulate(&svc, dests, 2, NULL, 0, counts, &none), LVS_OK);
    CHECK(none == 0 && counts[0] == 0 && counts[1] == 0);

    /* Errors, and nothing written on failure. */
    counts[0] = counts[1] = 77;
    EXPECT(lvs_simulate(NULL, dests, 2, clients, N, counts, &none), LVS_NULL_PARAMETER);
    EXPECT(lvs_simulate(&svc, NULL, 2, clients, N, counts, &none), LVS_NULL_PARAMETER);
    EXPECT(lvs_simulate(&svc, dests, 2, NULL, N, counts, &none), LVS_NULL_PARAMETER);
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, NULL, &none), LVS_NULL_PARAMETER);
    EXPECT(lvs_simulate(&svc, dests, SIZE_MAX, clients, N, counts, &none),
           LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "larger than any array");
    EXPECT(lvs_simulate(&svc, dests, 2, clients, SIZE_MAX / 2, counts, &none),
           LVS_INVALID_ARGUMENT);
    CHECK(counts[0] == 77 && counts[1] == 77);
    strcpy(svc.scheduler, "none");
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, counts, &none), LVS_UNSUPPORTED);
    CONTAINS(last_error(), "no model");
    strcpy(svc.scheduler, "rr");
    lvs_destination twice[2] = {dests[0], dests[0]};
    EXPECT(lvs_simulate(&svc, twice, 2, clients, N, counts, &none), LVS_DESTINATION_EXISTS);
    lvs_addr bad_client = clients[0];
    bad_client.family = 0;
    EXPECT(lvs_simulate(&svc, dests, 2, &bad_client, 1, counts, &none), LVS_INVALID_ARGUMENT);
    CONTAINS(last_error(), "clients[0]");
    dests[1].weight = 0x80000000u;
    EXPECT(lvs_simulate(&svc, dests, 2, clients, N, counts, &none), LVS_INVALID_ARGUMENT);
    CHECK(counts[0] == 77 && counts[1] == 77);
    free(clients);
}

/* The last error is per thread. */
static void *thread_error(void *arg) {
    const char *text = arg;
    lvs_addr a;
    for (int i = 0; i < 200; i++) {
        EXPECT(lvs_addr_parse(text, &a), LVS_INVALID_ARGUMENT);
        CONTAINS(last_error(), text);
    }
    return NULL;
}

static void test_thread_local_errors(void) {
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, thread_error, "first-thread-bad-address") == 0);
    CHECK(pthread_create(&t2, NULL, thread_error, "second-thread-bad-address") == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
}

int main(void) {
    test_version_and_strerror();
    test_last_error_buffers();
    test_addresses();
    test_key_helpers();
    test_null_handle();
    test_lists_without_a_list();
    test_open_errors();
    test_open_here();
    test_sized_structs();
    test_batch_building();
    test_struct_validation();
    test_desired();
    test_policy();
    test_reconciler_arguments();
    test_simulate();
    test_thread_local_errors();
    return check_summary("api_test");
}
