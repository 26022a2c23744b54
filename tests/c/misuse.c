/*
 * Misuse of the C API must give error codes, never a crash, a hang or a leak: NULL everywhere,
 * invalid UTF-8, bad values, results outliving their client, cancelling, callbacks that call
 * back into the library, and shutdown twice. Needs AGORA_LINK_ENDPOINT (a sandbox).
 * Exits non-zero if any check fails.
 */
#include "agora_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

static const char *INVALID_UTF8 = "\xff\xfe\xfd";

static agora_link_client *new_client(const char *base_url, uint32_t request_timeout_ms) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "sandbox-client-id", "sandbox-client-secret",
                                 &config, NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_password_grant(config, "sandbox-user", "sandbox-password", NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_base_url(config, base_url, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_request_timeout_ms(config, request_timeout_ms, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_config_free(config);
    return client;
}

static void null_pointers(const char *endpoint) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    agora_link_error *error = NULL;

    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, NULL, "s", &config, &error),
           AGORA_LINK_ERROR_NULL_POINTER);
    CHECK(config == NULL);
    CHECK(error != NULL && agora_link_error_result(error) == AGORA_LINK_ERROR_NULL_POINTER);
    CHECK(error != NULL && strstr(agora_link_error_message(error), "client_id") != NULL);
    CHECK(agora_link_error_http_status(error) == 0 && agora_link_error_trace_id(error) == NULL);
    agora_link_error_free(error);
    error = NULL;
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "i", NULL, &config, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "i", "s", NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_base_url(NULL, "http://127.0.0.1:1", NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_password_grant(NULL, "u", "p", NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_connect_timeout_ms(NULL, 5, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_add_resolve(NULL, "h", "127.0.0.1:1", NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_add_root_certificates_pem(NULL, NULL, 0, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_new(NULL, &client, NULL), AGORA_LINK_ERROR_NULL_POINTER);

    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "i", "s", &config, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_base_url(config, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_set_password_grant(config, "u", NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_config_add_root_certificates_pem(config, NULL, 10, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_new(config, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    agora_link_config_free(config);

    client = new_client(endpoint, 10000);
    agora_link_token *token = NULL;
    agora_link_account *account = NULL;
    agora_link_login *login = NULL;
    agora_link_package *package = NULL;
    agora_link_package_list *list = NULL;
    char *order = NULL;
    EXPECT(agora_link_client_get_token(NULL, &token, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_get_token(client, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_list_packages(NULL, &list, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_list_packages(client, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_get_package(NULL, 1, &package, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_get_package(client, 1, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_open_package(client, NULL, &order, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    agora_link_open_request request = {"app", NULL, "device", "pay", 1, 1};
    EXPECT(agora_link_client_open_package(client, &request, &order, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_register_account(client, NULL, "a", &account, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_register_account(client, "p", "a", NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_login_account(client, "p", "a", NULL, &login, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_remove_account(NULL, "p", "a", "t", NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_login_account_async(client, "p", "a", "t", NULL, NULL, NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_client_get_token_async(NULL, NULL, NULL, NULL, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_call_cancel(NULL), AGORA_LINK_ERROR_NULL_POINTER);
    CHECK(token == NULL && account == NULL && login == NULL && package == NULL && list == NULL &&
          order == NULL);

    /* Getters and frees accept NULL. */
    CHECK(agora_link_token_get(NULL) == NULL);
    CHECK(agora_link_login_get(NULL) == NULL);
    CHECK(agora_link_account_get(NULL) == NULL);
    CHECK(agora_link_package_get(NULL) == NULL);
    CHECK(agora_link_package_list_len(NULL) == 0);
    CHECK(agora_link_package_list_at(NULL, 0) == NULL);
    CHECK(agora_link_error_message(NULL) == NULL);
    CHECK(agora_link_error_result(NULL) == AGORA_LINK_ERROR_NULL_POINTER);
    CHECK(agora_link_error_server_code(NULL) == 0);
    agora_link_config_free(NULL);
    agora_link_client_free(NULL);
    agora_link_token_free(NULL);
    agora_link_account_free(NULL);
    agora_link_login_free(NULL);
    agora_link_package_free(NULL);
    agora_link_package_list_free(NULL);
    agora_link_error_free(NULL);
    agora_link_string_free(NULL);
    agora_link_call_free(NULL);
    agora_link_client_free(client);
}

static void bad_values(const char *endpoint) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    agora_link_error *error = NULL;
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, INVALID_UTF8, "s", &config, NULL),
           AGORA_LINK_ERROR_INVALID_UTF8);
    EXPECT(agora_link_config_new(7, "i", "s", &config, NULL), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_NA, "i", "s", &config, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_config_set_base_url(config, INVALID_UTF8, NULL), AGORA_LINK_ERROR_INVALID_UTF8);
    EXPECT(agora_link_config_set_request_timeout_ms(config, 0, NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_add_resolve(config, "api.agora.io", "not-an-address", NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_config_add_resolve(config, "", "127.0.0.1:1", NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    /* Plain HTTP to a remote host is refused when the client is built. */
    EXPECT(agora_link_config_set_base_url(config, "http://api.agora.io", NULL), AGORA_LINK_OK);
    EXPECT(agora_link_client_new(config, &client, &error), AGORA_LINK_ERROR_CONFIG);
    CHECK(client == NULL);
    CHECK(error != NULL && strstr(agora_link_error_message(error), "loopback") != NULL);
    agora_link_error_free(error);
    /* A PEM buffer that holds no certificate. */
    EXPECT(agora_link_config_set_base_url(config, "https://api.agora.io", NULL), AGORA_LINK_OK);
    const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    EXPECT(agora_link_config_add_root_certificates_pem(config, (const uint8_t *)junk, sizeof junk - 1,
                                                       NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_ERROR_CONFIG);
    agora_link_config_free(config);

    client = new_client(endpoint, 10000);
    agora_link_account *account = NULL;
    EXPECT(agora_link_client_register_account(client, "p", INVALID_UTF8, &account, NULL),
           AGORA_LINK_ERROR_INVALID_UTF8);
    EXPECT(agora_link_client_register_account(client, "p", "", &account, NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    agora_link_open_request request = {"app", "user", "device", "pay", 1, 0};
    char *order = NULL;
    EXPECT(agora_link_client_open_package(client, &request, &order, NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    /* Server-side failures carry the server's code and message. */
    agora_link_package *package = NULL;
    error = NULL;
    EXPECT(agora_link_client_get_package(client, 424242, &package, &error), AGORA_LINK_ERROR_API);
    CHECK(agora_link_error_server_code(error) == 999999);
    CHECK(agora_link_error_http_status(error) == 200);
    CHECK(agora_link_error_trace_id(error) != NULL);
    CHECK(agora_link_error_server_message(error) != NULL &&
          strstr(agora_link_error_server_message(error), "424242") != NULL);
    agora_link_error_free(error);
    CHECK(strcmp(agora_link_result_name(9999), "AGORA_LINK_UNKNOWN") == 0);
    CHECK(strcmp(agora_link_result_name(AGORA_LINK_ERROR_TLS), "AGORA_LINK_ERROR_TLS") == 0);
    agora_link_client_free(client);
}

static void results_outlive_their_client(const char *endpoint) {
    agora_link_client *client = new_client(endpoint, 10000);
    agora_link_token *token = NULL;
    agora_link_package_list *list = NULL;
    EXPECT(agora_link_client_get_token(client, &token, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_client_list_packages(client, &list, NULL), AGORA_LINK_OK);
    agora_link_client_free(client);
    CHECK(token != NULL && strlen(agora_link_token_get(token)->access_token) > 0);
    CHECK(agora_link_package_list_len(list) == 5);
    CHECK(agora_link_package_list_at(list, 5) == NULL);
    CHECK(agora_link_package_list_at(list, (size_t)-1) == NULL);
    CHECK(agora_link_package_list_at(list, 4)->id == 5);
    agora_link_token_free(token);
    agora_link_package_list_free(list);
}

/* Asynchronous completions. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

struct outcome {
    int calls;
    enum agora_link_result result;
    enum agora_link_result inner_blocking;
    enum agora_link_result inner_shutdown;
    pthread_t thread;
};

static void on_token(void *user_data, enum agora_link_result result, agora_link_token *token,
                     agora_link_error *error) {
    struct outcome *outcome = user_data;
    agora_link_token_free(token);
    agora_link_error_free(error);
    pthread_mutex_lock(&lock);
    outcome->calls++;
    outcome->result = result;
    outcome->thread = pthread_self();
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static agora_link_client *callback_client;

static void on_token_reentrant(void *user_data, enum agora_link_result result,
                               agora_link_token *token, agora_link_error *error) {
    struct outcome *outcome = user_data;
    agora_link_token *inner = NULL;
    outcome->inner_blocking = agora_link_client_get_token(callback_client, &inner, NULL);
    outcome->inner_shutdown = agora_link_shutdown(0);
    agora_link_token_free(inner);
    on_token(user_data, result, token, error);
}

static void wait_for(struct outcome *outcome) {
    pthread_mutex_lock(&lock);
    while (outcome->calls == 0) {
        pthread_cond_wait(&changed, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static void cancellation_and_reentrancy(const char *endpoint) {
    /* A server that accepts connections and never answers: the call hangs until cancelled. */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    CHECK(bind(silent, (struct sockaddr *)&address, sizeof address) == 0);
    CHECK(listen(silent, 16) == 0);
    CHECK(getsockname(silent, (struct sockaddr *)&address, &length) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(address.sin_port));

    agora_link_client *hanging = new_client(url, 60000);
    struct outcome cancelled = {0};
    agora_link_call *call = NULL;
    EXPECT(agora_link_client_get_token_async(hanging, on_token, &cancelled, &call, NULL),
           AGORA_LINK_OK);
    usleep(100 * 1000);
    CHECK(cancelled.calls == 0);
    EXPECT(agora_link_call_cancel(call), AGORA_LINK_OK);
    wait_for(&cancelled);
    CHECK(cancelled.result == AGORA_LINK_ERROR_CANCELLED);
    EXPECT(agora_link_call_cancel(call), AGORA_LINK_OK); /* after completion: no-op */
    agora_link_call_free(call);
    /* Freeing the client while a call is in flight is safe; cancel it through its handle. */
    struct outcome orphan = {0};
    EXPECT(agora_link_client_get_token_async(hanging, on_token, &orphan, &call, NULL), AGORA_LINK_OK);
    agora_link_client_free(hanging);
    EXPECT(agora_link_call_cancel(call), AGORA_LINK_OK);
    agora_link_call_free(call);
    wait_for(&orphan);
    CHECK(orphan.result == AGORA_LINK_ERROR_CANCELLED);
    close(silent);

    /* A callback that calls back into the library: blocking calls and shutdown refuse. */
    callback_client = new_client(endpoint, 10000);
    struct outcome reentrant = {0};
    EXPECT(agora_link_client_get_token_async(callback_client, on_token_reentrant, &reentrant, NULL,
                                             NULL),
           AGORA_LINK_OK);
    wait_for(&reentrant);
    CHECK(reentrant.result == AGORA_LINK_OK);
    CHECK(reentrant.inner_blocking == AGORA_LINK_ERROR_WOULD_DEADLOCK);
    CHECK(reentrant.inner_shutdown == AGORA_LINK_ERROR_WOULD_DEADLOCK);
    CHECK(!pthread_equal(reentrant.thread, pthread_self()));
    /* Each callback ran exactly once. */
    usleep(50 * 1000);
    CHECK(cancelled.calls == 1 && orphan.calls == 1 && reentrant.calls == 1);
}

static void shutdown_twice(void) {
    EXPECT(agora_link_set_worker_threads(4), AGORA_LINK_ERROR_INVALID_ARGUMENT); /* running */
    EXPECT(agora_link_set_thread_stack_size(512 * 1024), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_shutdown(2000), AGORA_LINK_OK);
    EXPECT(agora_link_shutdown(2000), AGORA_LINK_OK);
    agora_link_token *token = NULL;
    EXPECT(agora_link_client_get_token(callback_client, &token, NULL), AGORA_LINK_ERROR_SHUTDOWN);
    struct outcome after = {0};
    EXPECT(agora_link_client_get_token_async(callback_client, on_token, &after, NULL, NULL),
           AGORA_LINK_ERROR_SHUTDOWN);
    CHECK(after.calls == 0);
    EXPECT(agora_link_set_worker_threads(4), AGORA_LINK_ERROR_SHUTDOWN);
    EXPECT(agora_link_set_thread_stack_size(512 * 1024), AGORA_LINK_ERROR_SHUTDOWN);
    agora_link_client_free(callback_client);
}

int main(void) {
    const char *endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (endpoint == NULL) {
        fprintf(stderr, "set AGORA_LINK_ENDPOINT to a sandbox\n");
        return 2;
    }
    EXPECT(agora_link_set_worker_threads(0), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_set_worker_threads(2), AGORA_LINK_OK);
    /* Thread stacks: 0 (the default) or 64 KiB to 64 MiB, before the runtime starts. */
    EXPECT(agora_link_set_thread_stack_size(1), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_set_thread_stack_size(64 * 1024 - 1), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_set_thread_stack_size((size_t)64 * 1024 * 1024 + 1),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_set_thread_stack_size(SIZE_MAX), AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_set_thread_stack_size(0), AGORA_LINK_OK);
    EXPECT(agora_link_set_thread_stack_size(512 * 1024), AGORA_LINK_OK);
    null_pointers(endpoint);
    bad_values(endpoint);
    results_outlive_their_client(endpoint);
    cancellation_and_reentrancy(endpoint);
    shutdown_twice();
    printf("misuse: %d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
