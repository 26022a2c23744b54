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

/*
 * With SOAK_MAPPINGS=1 in the environment: the resident KiB of each mapped file, of the heap, of
 * the main stack and of the anonymous mappings together (thread stacks among them), summed from
 * /proc/self/smaps, on stderr, one line each, unsorted.
 */
static void print_mappings(void) {
    FILE *smaps = fopen("/proc/self/smaps", "r");
    char line[512];
    char names[64][160];
    long kib[64];
    int count = 0, current = -1;
    while (smaps != NULL && fgets(line, sizeof line, smaps) != NULL) {
        unsigned long start, end;
        int consumed = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s%n", &start, &end, &consumed) == 2 && consumed > 0) {
            char *name = line + consumed;
            while (*name == ' ') {
                name++;
            }
            name[strcspn(name, "\n")] = '\0';
            if (*name == '\0') {
                name = "[anonymous]";
            }
            current = -1;
            for (int i = 0; i < count; i++) {
                if (strcmp(names[i], name) == 0) {
                    current = i;
                }
            }
            if (current < 0 && count < 64) {
                snprintf(names[count], sizeof names[count], "%s", name);
                kib[count] = 0;
                current = count++;
            }
        } else if (current >= 0 && strncmp(line, "Rss:", 4) == 0) {
            kib[current] += strtol(line + 4, NULL, 10);
        }
    }
    if (smaps != NULL) {
        fclose(smaps);
    }
    for (int i = 0; i < count; i++) {
        if (kib[i] > 0) {
            fprintf(stderr, "%8ld KiB  %s\n", kib[i], names[i]);
        }
    }
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
    const char *mappings = getenv("SOAK_MAPPINGS");
    if (mappings != NULL && strcmp(mappings, "1") == 0) {
        print_mappings();
    }
    agora_link_account_free(account);
    agora_link_client_free(client);
    agora_link_shutdown(2000);
    return final - baseline > 16 * 1024 ? 1 : 0;
}
