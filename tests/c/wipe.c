/*
 * Secrets are wiped everywhere they were. Against the sandbox binary (AGORA_LINK_ENDPOINT): a
 * client with the password grant gets a REST token, registers an account, logs it in (lsToken,
 * gyToken: granwin_token, Cognito token, AWS secret key, session token), presigns its MQTT URL;
 * then the host frees every result, the client, and shuts the library down. The test then reads
 * its own memory (every readable mapping, through /proc/self/mem: what a core dump would hold)
 * and searches it for each secret: none may be found.
 *
 * The test must not hold the secrets itself: it keeps them XOR-masked (computed straight from
 * the library's result views) and compares memory through the same mask. The client secret and
 * password are built at run time from masked literals and wiped after use; run it without
 * AGORA_LINK_CLIENT_SECRET and AGORA_LINK_PASSWORD in the environment.
 */
#define _GNU_SOURCE /* explicit_bzero, memmem */
#include "agora_link.h"
#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MASK 0x5A


struct needle {
    const char *name;
    unsigned char *masked;
    size_t length;
};

static struct needle needles[16];
static size_t needle_count;

/* Records `value` (a secret the library handed out) masked; never copies it in clear. */
static void remember(const char *name, const char *value) {
    if (value == NULL || strlen(value) < 8) {
        fprintf(stderr, "%s: missing or too short to search for\n", name);
        failures++;
        return;
    }
    size_t length = strlen(value);
    unsigned char *masked = malloc(length);
    for (size_t i = 0; i < length; i++) masked[i] = (unsigned char)value[i] ^ MASK;
    needles[needle_count].name = name;
    needles[needle_count].masked = masked;
    needles[needle_count].length = length;
    needle_count++;
}

/* A secret from a masked literal, in a heap buffer the caller wipes and frees. */
static char *unmask(const unsigned char *masked, size_t length) {
    char *clear = malloc(length + 1);
    for (size_t i = 0; i < length; i++) clear[i] = (char)(masked[i] ^ MASK);
    clear[length] = 0;
    return clear;
}

/* Searches [data, data + size) for `needle` through the mask. */
static int found_in(const unsigned char *data, size_t size, const struct needle *needle) {
    if (size < needle->length) return 0;
    unsigned char first = needle->masked[0] ^ MASK;
    for (size_t i = 0; i + needle->length <= size; i++) {
        if (data[i] != first) continue;
        size_t j = 1;
        while (j < needle->length && (data[i + j] ^ MASK) == needle->masked[j]) j++;
        if (j == needle->length) return 1;
    }
    return 0;
}

/* Reads every readable mapping of this process and counts the secrets found, naming where. */
static int scan_memory(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    int mem = open("/proc/self/mem", O_RDONLY);
    if (!maps || mem < 0) {
        perror("/proc/self");
        return -1;
    }
    int found = 0;
    char line[512];
    static unsigned char chunk[1 << 20];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[8] = {0};
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[0] != 'r') continue;
        if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]") || strstr(line, "[vvar_vclock]"))
            continue;
        /* Read in overlapping chunks so that a secret across a boundary is still seen. */
        const size_t overlap = 4096;
        for (unsigned long at = start; at < end;) {
            size_t want = end - at < sizeof chunk ? end - at : sizeof chunk;
            ssize_t got = pread(mem, chunk, want, (off_t)at);
            if (got <= 0) break;
            for (size_t n = 0; n < needle_count; n++) {
                if (found_in(chunk, (size_t)got, &needles[n])) {
                    char *newline = strchr(line, '\n');
                    if (newline) *newline = 0;
                    fprintf(stderr, "FOUND %s in %s\n", needles[n].name, line);
                    found++;
                }
            }
            if ((size_t)got < want || at + (unsigned long)got >= end) break;
            at += (unsigned long)got - overlap;
        }
    }
    fclose(maps);
    close(mem);
    return found;
}

int main(void) {
    const char *endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (!endpoint) {
        fprintf(stderr, "AGORA_LINK_ENDPOINT is not set\n");
        return 2;
    }
    if (getenv("AGORA_LINK_CLIENT_SECRET") || getenv("AGORA_LINK_PASSWORD")) {
        fprintf(stderr, "run without AGORA_LINK_CLIENT_SECRET and AGORA_LINK_PASSWORD\n");
        return 2;
    }
    /* The sandbox's default client secret and password, stored masked in this binary (a clear
     * literal would be found in its read-only data). */
    static const unsigned char secret_masked[] = {0x29, 0x3b, 0x34, 0x3e, 0x38, 0x35, 0x22, 0x77, 0x39, 0x36, 0x33, 0x3f, 0x34, 0x2e, 0x77, 0x29, 0x3f, 0x39, 0x28, 0x3f, 0x2e};
    static const unsigned char password_masked[] = {0x29, 0x3b, 0x34, 0x3e, 0x38, 0x35, 0x22, 0x77, 0x2a, 0x3b, 0x29, 0x29, 0x2d, 0x35, 0x28, 0x3e};
    const size_t secret_length = sizeof secret_masked, password_length = sizeof password_masked;
    char *client_secret = unmask(secret_masked, secret_length);
    char *password = unmask(password_masked, password_length);
    remember("client secret", client_secret);
    remember("password", password);

    agora_link_config *config = NULL;
    CHECK(agora_link_config_new(AGORA_LINK_REGION_CN, "sandbox-client-id", client_secret, &config,
                                NULL) == AGORA_LINK_OK);
    CHECK(agora_link_config_set_password_grant(config, "sandbox-user", password, NULL) ==
          AGORA_LINK_OK);
    explicit_bzero(client_secret, secret_length);
    explicit_bzero(password, password_length);
    free(client_secret);
    free(password);
    CHECK(agora_link_config_set_base_url(config, endpoint, NULL) == AGORA_LINK_OK);
    agora_link_client *client = NULL;
    CHECK(agora_link_client_new(config, &client, NULL) == AGORA_LINK_OK);
    agora_link_config_free(config);

    agora_link_token *token = NULL;
    CHECK(agora_link_client_get_token(client, &token, NULL) == AGORA_LINK_OK);
    if (token) remember("REST access token", agora_link_token_get(token)->access_token);

    char account_name[64];
    snprintf(account_name, sizeof account_name, "wipe-%d", (int)getpid());
    agora_link_account *account = NULL;
    CHECK(agora_link_client_register_account(client, "wipe", account_name, &account, NULL) ==
          AGORA_LINK_OK);
    agora_link_login *login = NULL;
    if (account) {
        remember("account token", agora_link_account_get(account)->token);
        CHECK(agora_link_client_login_account(client, "wipe", account_name,
                                              agora_link_account_get(account)->token, &login,
                                              NULL) == AGORA_LINK_OK);
    }
    if (login) {
        const agora_link_login_view *view = agora_link_login_get(login);
        remember("lsToken.access_token", view->ls_token.access_token);
        if (view->ls_token.refresh_token && view->ls_token.refresh_token[0])
            remember("lsToken.refresh_token", view->ls_token.refresh_token);
        remember("gyToken.granwin_token", view->granwin_token);
        remember("gyToken.pool.token (Cognito)", view->cognito_token);
        remember("gyToken.proof.secretKey", view->secret_key);
        remember("gyToken.proof.sessionToken", view->session_token);
        char *url = NULL;
        agora_link_result presigned = agora_link_login_mqtt_url(client, login, &url, NULL);
        /* The gateway-less sandbox hands out a made-up endpoint; presigning may refuse it. With
         * a gateway (scripts/test-c) it succeeds, and the SigV4 signing key cache then holds a
         * key derived from the secret key (never the secret itself: searched for below). */
        printf("presigned an MQTT URL: %s\n", presigned == AGORA_LINK_OK ? "yes" : "no");
        if (presigned == AGORA_LINK_OK && url) agora_link_string_free(url);
    }
    printf("%zu secrets handed out; freeing everything and shutting down\n", needle_count);

    agora_link_login_free(login);
    agora_link_account_free(account);
    agora_link_token_free(token);
    agora_link_client_free(client);
    CHECK(agora_link_shutdown(5000) == AGORA_LINK_OK);

    int found = scan_memory();
    printf("%d secret(s) found in this process's memory after freeing\n", found);
    CHECK(found == 0);
    for (size_t n = 0; n < needle_count; n++) free(needles[n].masked);
    return failures == 0 ? 0 : 1;
}
