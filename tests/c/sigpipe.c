/*
 * SIGPIPE: a C host that leaves SIGPIPE at its default disposition (it kills the process, and
 * most firmware never changes it) registers an account with an 8 MiB name against a server that
 * answers the token request, then reads 64 KiB of the next request and hangs up. Twelve rounds,
 * blocking and asynchronous: the process must never be killed, and every call must return a
 * network error. The server runs on a thread of this process, on loopback.
 */
#define _GNU_SOURCE /* strcasestr */
#include "agora_link.h"
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


static const char TOKEN_BODY[] =
    "{\"code\":0,\"msg\":\"SUCCESS\",\"timestamp\":1652449735368,\"data\":{\"access_token\":"
    "\"token-for-the-sigpipe-test\",\"token_type\":\"bearer\",\"expires_in\":3600,\"scope\":"
    "\"read\"},\"success\":true}";

static int listener;

/* Serves each connection: reads the head; a small request (the token) gets a token answer, a
 * large one is read for 64 KiB and the connection is closed without an answer. */
static void *serve(void *unused) {
    (void)unused;
    static char buffer[65536];
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) return NULL;
        for (;;) {
            size_t have = 0;
            ssize_t got = 0;
            char *end = NULL;
            while (have < sizeof buffer - 1 &&
                   (got = recv(fd, buffer + have, sizeof buffer - 1 - have, 0)) > 0) {
                have += (size_t)got;
                buffer[have] = 0;
                if ((end = strstr(buffer, "\r\n\r\n")) != NULL) break;
            }
            if (end == NULL) break;
            const char *length = strcasestr(buffer, "content-length:");
            long body = length ? strtol(length + 15, NULL, 10) : 0;
            size_t head = (size_t)(end + 4 - buffer);
            if (body > 60000) {
                /* Read 64 KiB in all, then hang up mid-request. */
                size_t total = have;
                while (total < 65536 && (got = recv(fd, buffer, sizeof buffer, 0)) > 0)
                    total += (size_t)got;
                break;
            }
            size_t seen = have - head;
            while ((long)seen < body && (got = recv(fd, buffer, sizeof buffer, 0)) > 0)
                seen += (size_t)got;
            char answer[1024];
            int n = snprintf(answer, sizeof answer,
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             strlen(TOKEN_BODY), TOKEN_BODY);
            if (send(fd, answer, (size_t)n, MSG_NOSIGNAL) != n) break;
        }
        close(fd);
    }
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;
static agora_link_result async_result;

static void on_account(void *user_data, agora_link_result result, agora_link_account *account,
                       agora_link_error *error) {
    (void)user_data;
    agora_link_account_free(account);
    agora_link_error_free(error);
    pthread_mutex_lock(&lock);
    async_result = result;
    done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
}

int main(void) {
    /* The default disposition: a SIGPIPE raised by the library would kill this process. */
    signal(SIGPIPE, SIG_DFL);

    struct sockaddr_in address;
    socklen_t length = sizeof address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listener, 64) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
        perror("listen");
        return 2;
    }
    pthread_t server;
    pthread_create(&server, NULL, serve, NULL);

    char base_url[64];
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", ntohs(address.sin_port));
    agora_link_config *config = NULL;
    CHECK(agora_link_config_new(AGORA_LINK_REGION_CN, "id", "secret", &config, NULL) ==
          AGORA_LINK_OK);
    CHECK(agora_link_config_set_base_url(config, base_url, NULL) == AGORA_LINK_OK);
    CHECK(agora_link_config_set_call_deadline_ms(config, 10000, NULL) == AGORA_LINK_OK);
    agora_link_client *client = NULL;
    CHECK(agora_link_client_new(config, &client, NULL) == AGORA_LINK_OK);
    agora_link_config_free(config);

    size_t size = 8u << 20;
    char *name = malloc(size + 1);
    memset(name, 'a', size);
    name[size] = 0;

    int network_errors = 0;
    for (int round = 0; round < 12; round++) {
        agora_link_account *account = NULL;
        agora_link_error *error = NULL;
        agora_link_result result =
            agora_link_client_register_account(client, "project", name, &account, &error);
        if (result == AGORA_LINK_ERROR_NETWORK) network_errors++;
        else
            fprintf(stderr, "round %d (blocking): %s: %s\n", round,
                    agora_link_result_name((int32_t)result),
                    error ? agora_link_error_message(error) : "");
        agora_link_error_free(error);
        agora_link_account_free(account);

        pthread_mutex_lock(&lock);
        done = 0;
        pthread_mutex_unlock(&lock);
        CHECK(agora_link_client_register_account_async(client, "project", name, on_account, NULL,
                                                       NULL, NULL) == AGORA_LINK_OK);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        pthread_mutex_lock(&lock);
        while (!done && pthread_cond_timedwait(&done_cond, &lock, &until) == 0) {
        }
        CHECK(done);
        if (done && async_result == AGORA_LINK_ERROR_NETWORK) network_errors++;
        else if (done)
            fprintf(stderr, "round %d (async): %s\n", round,
                    agora_link_result_name((int32_t)async_result));
        pthread_mutex_unlock(&lock);
    }
    printf("%d of 24 calls returned AGORA_LINK_ERROR_NETWORK; the process was never killed\n",
           network_errors);
    CHECK(network_errors == 24);
    free(name);
    agora_link_client_free(client);
    agora_link_shutdown(5000);
    /* Stop the server thread: shutting the listener down makes its accept() fail. */
    shutdown(listener, SHUT_RDWR);
    pthread_join(server, NULL);
    close(listener);
    return failures == 0 ? 0 : 1;
}
