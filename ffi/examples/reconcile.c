/*
 * Make this network namespace's IPVS table match a desired state in JSON,
 * owning only the services whose address lies in PREFIX (every service if
 * none is given), and print what was done. Run it again: nothing to do.
 *
 *     reconcile [-n] STATE.json [PREFIX]     (-n: dry run, print ipvsadm -R input too)
 *
 * Exits 0 when every change succeeded, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lvs.h>

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, cap);
            if (grown == NULL) break;
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) break;
        *len += n;
    }
    fclose(f);
    return buf;
}

static void print_text(lvs_result (*get)(const lvs_plan *, char *, size_t, size_t *),
                       const lvs_plan *plan) {
    size_t len = 0;
    get(plan, NULL, 0, &len); /* the length, then the text */
    char *text = malloc(len + 1);
    if (text != NULL && get(plan, text, len + 1, NULL) == LVS_OK) fputs(text, stdout);
    free(text);
}

int main(int argc, char **argv) {
    int dry_run = argc > 1 && strcmp(argv[1], "-n") == 0;
    if (argc < 2 + dry_run || argc > 3 + dry_run) {
        fprintf(stderr, "usage: reconcile [-n] STATE.json [PREFIX]\n");
        return 2;
    }
    size_t json_len = 0;
    char *json = read_file(argv[1 + dry_run], &json_len);
    if (json == NULL) {
        perror(argv[1 + dry_run]);
        return 1;
    }

    lvs_handle *h = NULL;
    lvs_desired *want = NULL;
    lvs_policy *policy = NULL;
    lvs_reconciler *r = NULL;
    lvs_plan *plan = NULL;
    lvs_result res = lvs_desired_from_json(json, json_len, &want);
    if (res == LVS_OK) res = lvs_policy_new(&policy);
    if (res == LVS_OK && argc == 3 + dry_run)
        res = lvs_policy_scope_add_prefix(policy, argv[2 + dry_run]);
    if (res == LVS_OK) res = lvs_reconciler_new(policy, &r);
    if (res == LVS_OK) res = lvs_handle_open(&h);
    if (res == LVS_OK) {
        res = dry_run ? lvs_reconciler_plan(r, h, want, &plan)
                      : lvs_reconciler_reconcile(r, h, want, &plan);
    }
    char msg[1024] = "";
    lvs_last_error(msg, sizeof msg, NULL); /* before other calls replace it */
    if (plan != NULL) { /* the pass ran, even if some changes failed */
        print_text(lvs_plan_text, plan);
        if (dry_run) print_text(lvs_plan_ipvsadm, plan);
    }
    if (res != LVS_OK) fprintf(stderr, "reconcile: %s: %s\n", lvs_strerror(res), msg);
    lvs_plan_free(plan);
    lvs_reconciler_free(r);
    lvs_policy_free(policy);
    lvs_desired_free(want);
    lvs_handle_free(h);
    free(json);
    return res == LVS_OK ? 0 : 1;
}
