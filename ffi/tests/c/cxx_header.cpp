// lvs.h from C++: the header compiles with -std=c++17 -Wall -Wextra
// -Wpedantic -Werror, its declarations link with extern "C" names, and
// lvs_result is a typed enum there. Needs no kernel.
#include <lvs.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

static_assert(std::is_same<std::underlying_type<lvs_result>::type, uint32_t>::value,
              "lvs_result is a uint32_t enum in C++");
static_assert(sizeof(lvs_service) == 72, "same layout as in C and Rust");

int main() {
    int passed = 0, failed = 0;
    auto check = [&](bool ok, const char *what) {
        if (ok) {
            passed++;
        } else {
            std::fprintf(stderr, "FAILED: %s\n", what);
            failed++;
        }
    };
    check(std::strlen(lvs_version()) > 0, "lvs_version");
    check(std::string(lvs_strerror(LVS_SERVICE_NOT_FOUND)) == "no such service", "strerror");

    lvs_addr a{};
    lvs_result r = lvs_addr_parse("[2001:db8::1]:443", &a);
    check(r == LVS_OK && a.family == LVS_AF_INET6 && a.port == 443, "addr_parse");
    char text[LVS_TEXT_MAX];
    check(lvs_addr_format(&a, text, sizeof text, nullptr) == LVS_OK, "addr_format");
    check(std::string(text) == "[2001:db8::1]:443", "addr_format text");

    lvs_batch *b = nullptr;
    check(lvs_batch_new(&b) == LVS_OK, "batch_new");
    lvs_service svc{};
    svc.key.protocol = LVS_PROTO_TCP;
    svc.key.addr = a;
    std::strcpy(svc.scheduler, "mh");
    svc.flags = LVS_SVC_F_SCHED_FALLBACK;
    check(lvs_batch_add_service(b, &svc) == LVS_OK, "batch_add_service");
    check(lvs_batch_len(b) == 1, "batch_len");
    switch (lvs_batch_result(b, 0)) {
    case LVS_NOT_ATTEMPTED:
        break;
    default:
        check(false, "batch_result");
    }
    lvs_batch_free(b);

    lvs_handle *h = nullptr;
    check(lvs_handle_open_netns_path(nullptr, &h) == LVS_NULL_PARAMETER && h == nullptr,
          "open NULL path");
    std::printf("cxx_header: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
