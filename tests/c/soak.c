/*
 * 10,000 blocking logins through one client; prints the resident set size after 1,000 and after
 * 10,000 calls and the peak (it must stay flat: growth above 16 MiB fails). Environment as the
 * examples (AGORA_LINK_WORKER_THREADS and AGORA_LINK_THREAD_STACK_BYTES size the runtime).
 */
#include "agora_link.h"
#include "../../examples/c/example_env.h"

#include <unistd.h>

/* A field of /proc/self/status in KiB ("VmRSS:", "VmHWM:" for the peak), -1 if absent. */
static long status_kib(const char *field) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t length = strlen(field);
    while (status != NULL && fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, field, length) == 0) {
            kib = strtol(line + length, NULL, 10);
        }
    }
    if (status != NULL) {
        fclose(status);
    }
    return kib;
}

int main(int argc, char **argv) {
    long calls = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    agora_link_client *client = client_from_env();
    if (client == NULL) {
        return 1;
    }
    agora_link_error *error = NULL;
    enum agora_link_result result;
    char name[64];
    snprintf(name, sizeof name, "c-soak-%ld", (long)getpid());
    agora_link_account *account = NULL;
    result = agora_link_client_register_account(client, "soak", name, &account, &error);
    if (result != AGORA_LINK_OK) {
        return report("register", result, error);
    }
    long baseline = 0;
    for (long i = 1; i <= calls; i++) {
        agora_link_login *login = NULL;
        result = agora_link_client_login_account(client, "soak", name,
                                                 agora_link_account_get(account)->token, &login,
                                                 &error);
        if (result != AGORA_LINK_OK) {
            return report("login", result, error);
        }
        agora_link_login_free(login);
        if (i == calls / 10) {
            baseline = status_kib("VmRSS:");
        }
    }
    long final = status_kib("VmRSS:");
    printf("soak: %ld logins; RSS after %ld: %ld KiB, after %ld: %ld KiB (growth %ld KiB), peak %ld KiB\n",
           calls, calls / 10, baseline, calls, final, final - baseline, status_kib("VmHWM:"));
    agora_link_account_free(account);
    agora_link_client_free(client);
    agora_link_shutdown(2000);
    return final - baseline > 16 * 1024 ? 1 : 0;
}
