/*
 * Domain switching through the C API, against the sandbox binary (AGORA_LINK_ENDPOINT): a dead
 * primary (a closed loopback port) with the sandbox as the explicit regional host, the client's
 * counters, the hosts listed in an error, and bad failover settings refused with error codes.
 * Exits non-zero if any check fails.
 */
#include "agora_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;

#define CHECK(condition)                                                      \
    do {                                                                      \
        if (!(condition)) {                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#define EXPECT(call, expected)                                                \
    do {                                                                      \
        enum agora_link_result got_ = (call);                                 \
        if (got_ != (expected)) {                                             \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, #call, \
                    agora_link_result_name((int32_t)got_), agora_link_result_name((int32_t)(expected))); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* A loopback port nothing listens on: bound, then closed. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        perror("socket");
        exit(2);
    }
    close(fd);
    return ntohs(address.sin_port);
}

static agora_link_config *base_config(const char *base_url) {
    agora_link_config *config = NULL;
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "sandbox-client-id", "sandbox-client-secret",
                                 &config, NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_password_grant(config, "sandbox-user", "sandbox-password", NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_base_url(config, base_url, NULL), AGORA_LINK_OK);
    const uint32_t backoff[] = {10, 20};
    EXPECT(agora_link_config_set_backoff(config, backoff, 2, 10, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_call_deadline_ms(config, 5000, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_host_cooldown_ms(config, 60000, 120000, NULL), AGORA_LINK_OK);
    return config;
}

static void fails_over_and_counts(const char *endpoint) {
    char dead[64], live[128];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", closed_port());
    /* The sandbox's "host:port", the regional host. */
    snprintf(live, sizeof live, "%s", strstr(endpoint, "://") + 3);

    agora_link_config *config = base_config(dead);
    EXPECT(agora_link_config_add_regional_host(config, live, NULL), AGORA_LINK_OK);
    agora_link_client *client = NULL;
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_config_free(config);

    for (int call = 0; call < 3; call++) {
        agora_link_package_list *list = NULL;
        agora_link_error *error = NULL;
        EXPECT(agora_link_client_list_packages(client, &list, &error), AGORA_LINK_OK);
        if (error) {
            fprintf(stderr, "%s\n", agora_link_error_message(error));
            agora_link_error_free(error);
        }
        CHECK(list && agora_link_package_list_len(list) == 5);
        agora_link_package_list_free(list);
    }

    agora_link_stats *stats = NULL;
    EXPECT(agora_link_client_get_stats(client, &stats, NULL), AGORA_LINK_OK);
    const agora_link_stats_view *view = agora_link_stats_get(stats);
    CHECK(view != NULL);
    if (view) {
        /* A token request and three calls; the dead primary was tried by the first request only
         * (twice: the spec's same-host retry), then skipped while cooling down. */
        CHECK(view->requests == 4);
        CHECK(view->failovers == 1);
        CHECK(view->retries == 1);
        CHECK(view->failed_requests == 0);
        CHECK(view->host_count == 2);
        for (size_t i = 0; i < view->host_count; i++) {
            const agora_link_host_stats_view *host = &view->hosts[i];
            if (strcmp(host->host, dead + strlen("http://")) == 0) {
                CHECK(host->attempts == 2);
                CHECK(host->failures == 2);
                CHECK(host->skipped == 3);
                CHECK(host->cooling_down);
                CHECK(host->cooldown_remaining_ms > 0);
                CHECK(host->last_failure == AGORA_LINK_FAILURE_REFUSED);
            } else {
                CHECK(strcmp(host->host, live) == 0);
                CHECK(host->successes == 4);
                CHECK(!host->cooling_down);
                CHECK(host->last_failure == AGORA_LINK_FAILURE_NONE);
            }
        }
    }
    agora_link_stats_free(stats);
    agora_link_client_free(client);
}

static void errors_list_the_hosts_tried(void) {
    char dead[64], also_dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", closed_port());
    snprintf(also_dead, sizeof also_dead, "127.0.0.1:%d", closed_port());
    agora_link_config *config = base_config(dead);
    EXPECT(agora_link_config_add_regional_host(config, also_dead, NULL), AGORA_LINK_OK);
    agora_link_client *client = NULL;
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_config_free(config);

    agora_link_token *token = NULL;
    agora_link_error *error = NULL;
    EXPECT(agora_link_client_get_token(client, &token, &error), AGORA_LINK_ERROR_NETWORK);
    CHECK(token == NULL);
    CHECK(error != NULL);
    if (error) {
        CHECK(agora_link_error_attempt_count(error) == 3);
        uint32_t failure = 0;
        const char *host = agora_link_error_attempt(error, 0, &failure);
        CHECK(host && strcmp(host, dead + strlen("http://")) == 0);
        CHECK(failure == AGORA_LINK_FAILURE_REFUSED);
        host = agora_link_error_attempt(error, 2, &failure);
        CHECK(host && strcmp(host, also_dead) == 0);
        CHECK(agora_link_error_attempt(error, 3, &failure) == NULL);
        CHECK(agora_link_error_attempt(error, 0, NULL) != NULL);
        CHECK(strstr(agora_link_error_message(error), also_dead) != NULL);
        agora_link_error_free(error);
    }
    CHECK(agora_link_error_attempt_count(NULL) == 0);
    CHECK(agora_link_error_attempt(NULL, 0, NULL) == NULL);
    agora_link_client_free(client);
}

static void bad_settings_are_refused(void) {
    agora_link_config *config = base_config("http://127.0.0.1:1");
    agora_link_error *error = NULL;
    EXPECT(agora_link_config_set_call_deadline_ms(config, 0, &error), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    agora_link_error_free(error);
    EXPECT(agora_link_config_set_backoff(config, NULL, 2, 10, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_backoff(config, NULL, 0, 10, NULL), AGORA_LINK_OK);
    const uint32_t one[] = {5};
    EXPECT(agora_link_config_set_backoff(config, one, 1, 101, NULL), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_set_host_cooldown_ms(config, 10, 5, NULL), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_set_server_location(config, 7, NULL), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_set_server_location(config, AGORA_LINK_SERVER_LOCATION_ELSEWHERE, NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_regional_region(config, "mars-1", NULL), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_set_regional_region(config, "eu-central-1", NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_regional_region(config, NULL, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_add_regional_address_map(config, "10.0.0.0/33", "eu-west-1", NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_add_regional_address_map(config, "10.0.0.0/8", NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_add_regional_address_map(config, "10.0.0.0/8", "eu-west-1", NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_add_regional_host(config, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_failover_steps(config, false, false, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_regional_off(config, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_failover_enabled(config, false, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_resolve_overrides_only(config, true, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_failover_enabled(NULL, true, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    /* A bad explicit host is caught when the client is built. */
    EXPECT(agora_link_config_add_regional_host(config, "bad host/", NULL), AGORA_LINK_OK);
    agora_link_client *client = NULL;
    error = NULL;
    EXPECT(agora_link_client_new(config, &client, &error), AGORA_LINK_ERROR_CONFIG);
    CHECK(client == NULL);
    agora_link_error_free(error);
    agora_link_config_free(config);

    agora_link_stats *stats = NULL;
    EXPECT(agora_link_client_get_stats(NULL, &stats, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    CHECK(stats == NULL);
    CHECK(agora_link_stats_get(NULL) == NULL);
    agora_link_stats_free(NULL);
}

/* Proxies: loopback never goes through one (even when the environment names one), an explicit
 * proxy that is down is named in the error without its credentials, and an unusable proxy URL
 * is a configuration error. */
static void proxies(const char *endpoint) {
    char dead[96];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", closed_port());
    setenv("HTTPS_PROXY", dead, 1);
    setenv("http_proxy", dead, 1);
    setenv("ALL_PROXY", dead, 1);
    agora_link_config *config = base_config(endpoint);
    agora_link_client *client = NULL;
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_config_free(config);
    agora_link_package_list *packages = NULL;
    EXPECT(agora_link_client_list_packages(client, &packages, NULL), AGORA_LINK_OK);
    agora_link_package_list_free(packages);
    agora_link_client_free(client);
    unsetenv("HTTPS_PROXY");
    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");

    char with_password[128];
    int port = closed_port();
    snprintf(with_password, sizeof with_password, "http://alice:Pr0xy-Pa55@127.0.0.1:%d", port);
    config = base_config("https://api.sd-rtn.com");
    EXPECT(agora_link_config_set_failover_enabled(config, false, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_proxy(config, with_password, NULL), AGORA_LINK_OK);
    client = NULL;
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_error *error = NULL;
    EXPECT(agora_link_client_list_packages(client, &packages, &error), AGORA_LINK_ERROR_NETWORK);
    const char *message = error ? agora_link_error_message(error) : "";
    char shown[64];
    snprintf(shown, sizeof shown, "http://***@127.0.0.1:%d", port);
    CHECK(strstr(message, "proxy") != NULL);
    CHECK(strstr(message, shown) != NULL);
    CHECK(strstr(message, "Pr0xy-Pa55") == NULL);
    CHECK(agora_link_error_attempt_count(error) == 1);
    uint32_t failure = 0;
    CHECK(agora_link_error_attempt(error, 0, &failure) != NULL);
    CHECK(failure == AGORA_LINK_FAILURE_PROXY);
    agora_link_error_free(error);
    agora_link_client_free(client);

    /* NULL goes back to the environment; "*" turns every proxy off; SOCKS is refused. */
    EXPECT(agora_link_config_set_proxy(config, NULL, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_no_proxy(config, "*", NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_no_proxy(config, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_proxy(config, "socks5://bob:S3cret@127.0.0.1:1080", NULL), AGORA_LINK_OK);
    client = NULL;
    error = NULL;
    EXPECT(agora_link_client_new(config, &client, &error), AGORA_LINK_ERROR_CONFIG);
    CHECK(error != NULL && strstr(agora_link_error_message(error), "S3cret") == NULL);
    agora_link_error_free(error);
    agora_link_config_free(config);
    printf("ok   proxies\n");
}

int main(void) {
    const char *endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (!endpoint || !strstr(endpoint, "://")) {
        fprintf(stderr, "set AGORA_LINK_ENDPOINT to the sandbox URL\n");
        return 2;
    }
    fails_over_and_counts(endpoint);
    errors_list_the_hosts_tried();
    bad_settings_are_refused();
    proxies(endpoint);
    EXPECT(agora_link_shutdown(2000), AGORA_LINK_OK);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("failover: all checks passed\n");
    return 0;
}
