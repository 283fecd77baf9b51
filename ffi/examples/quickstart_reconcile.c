/* The README's reconciler example: make the table match a JSON desired state. */
#include <stdio.h>
#include <string.h>
#include <lvs.h>

static const char json[] =
    "{ \"services\": [ { \"key\": { \"addr\": { \"protocol\": \"tcp\", \"addr\": \"10.0.0.1:80\" } },"
    "    \"scheduler\": \"rr\","
    "    \"destinations\": [ { \"addr\": \"192.168.1.2:8080\", \"weight\": 3 },"
    "                        { \"addr\": \"192.168.1.3:8080\" } ] } ] }";

int main(void) {
    lvs_handle *h = NULL;
    lvs_desired *want = NULL;
    lvs_policy *policy = NULL;
    lvs_reconciler *r = NULL;
    lvs_plan *plan = NULL;
    lvs_result res = lvs_desired_from_json(json, strlen(json), &want);
    if (res == LVS_OK) res = lvs_policy_new(&policy);
    if (res == LVS_OK) res = lvs_policy_scope_add_prefix(policy, "10.0.0.0/8"); /* ours */
    if (res == LVS_OK) res = lvs_reconciler_new(policy, &r);
    if (res == LVS_OK) res = lvs_handle_open(&h); /* this network namespace */
    if (res == LVS_OK) res = lvs_reconciler_reconcile(r, h, want, &plan);
    char text[4096] = "";
    if (res != LVS_OK) lvs_last_error(text, sizeof text, NULL); /* why */
    else lvs_plan_text(plan, text, sizeof text, NULL);   /* "+ service TCP 10.0.0.1:80 rr" ... */
    printf("%s: %s", lvs_strerror(res), text);
    lvs_plan_free(plan); /* a pass whose changes failed still has a plan */
    lvs_reconciler_free(r);
    lvs_policy_free(policy);
    lvs_desired_free(want);
    lvs_handle_free(h);
    return res == LVS_OK ? 0 : 1;
}
