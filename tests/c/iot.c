/*
 * IoT credentials through the C API, against the sandbox binary started with --iot-broker (its
 * gateway bridged to mosquitto; AGORA_LINK_ENDPOINT): presigning into a caller buffer (sizes,
 * errors), a login's presigned URL accepted by the gateway's SigV4 check, a provider that renews
 * expired credentials through Cognito after a refusal (403 with a Date header), and MQTT over
 * the presigned WebSocket (a minimal 3.1.1 client): CONNECT, SUBSCRIBE, PUBLISH, receive.
 * Exits non-zero if a check fails.
 */
#include "agora_link.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <time.h>
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

/* Connects to "127.0.0.1:port" taken from "ws://127.0.0.1:port/..." or "http://127.0.0.1:port". */
static int connect_to(const char *url, char *authority, size_t authority_len) {
    const char *start = strstr(url, "://");
    if (!start) return -1;
    start += 3;
    size_t len = strcspn(start, "/");
    if (len >= authority_len) return -1;
    memcpy(authority, start, len);
    authority[len] = '\0';
    const char *colon = strrchr(authority, ':');
    if (!colon) return -1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)atoi(colon + 1));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Reads a response head; returns the status, copies the Date header into `date` if asked. */
static int read_status(int fd, char *date, size_t date_len) {
    char head[8192];
    size_t used = 0;
    while (used + 1 < sizeof head) {
        ssize_t got = read(fd, head + used, 1);
        if (got <= 0) break;
        used += (size_t)got;
        head[used] = '\0';
        if (used >= 4 && strcmp(head + used - 4, "\r\n\r\n") == 0) break;
    }
    head[used] = '\0';
    if (date) {
        date[0] = '\0';
        const char *found = strstr(head, "\r\ndate: ");
        if (!found) found = strstr(head, "\r\nDate: ");
        if (found) {
            found += 8;
            size_t len = strcspn(found, "\r");
            if (len < date_len) {
                memcpy(date, found, len);
                date[len] = '\0';
            }
        }
    }
    return used > 12 ? atoi(head + 9) : -1;
}

/* Opens a WebSocket to a presigned ws:// URL; returns the HTTP status, and in *fd_out (when not
 * NULL) the open socket after a 101 (else it is closed). */
static int open_websocket(const char *url, char *date, size_t date_len, int *fd_out) {
    char authority[128];
    if (fd_out) *fd_out = -1;
    int fd = connect_to(url, authority, sizeof authority);
    if (fd < 0) return -1;
    const char *path = strchr(strstr(url, "://") + 3, '/');
    size_t size = strlen(path) + 512;
    char *request = malloc(size);
    snprintf(request, size,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
             path, authority);
    ssize_t sent = write(fd, request, strlen(request));
    free(request);
    int status = sent > 0 ? read_status(fd, date, date_len) : -1;
    if (status == 101 && fd_out) {
        *fd_out = fd;
    } else {
        close(fd);
    }
    return status;
}

/* A WebSocket upgrade to a presigned ws:// URL: the HTTP status (101 accepted, 403 refused). */
static int upgrade(const char *url, char *date, size_t date_len) {
    return open_websocket(url, date, date_len, NULL);
}

/* --- A minimal MQTT 3.1.1 client over WebSocket binary frames (enough for the test). --- */

static int write_all(int fd, const unsigned char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, unsigned char *data, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, data, len);
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends one masked binary frame (clients must mask). */
static int ws_send(int fd, const unsigned char *payload, size_t len) {
    unsigned char header[8];
    size_t used = 0;
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    header[used++] = 0x82;
    if (len < 126) {
        header[used++] = (unsigned char)(0x80 | len);
    } else {
        header[used++] = 0x80 | 126;
        header[used++] = (unsigned char)(len >> 8);
        header[used++] = (unsigned char)(len & 0xff);
    }
    memcpy(header + used, mask, 4);
    used += 4;
    unsigned char *masked = malloc(len);
    for (size_t i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i % 4];
    int result = write_all(fd, header, used) == 0 && write_all(fd, masked, len) == 0 ? 0 : -1;
    free(masked);
    return result;
}

/* Receives one frame's payload (the server does not mask); returns its length or -1. */
static long ws_recv(int fd, unsigned char *buffer, size_t capacity) {
    unsigned char header[2];
    if (read_all(fd, header, 2) != 0) return -1;
    size_t len = header[1] & 0x7f;
    if (len == 126) {
        unsigned char extended[2];
        if (read_all(fd, extended, 2) != 0) return -1;
        len = ((size_t)extended[0] << 8) | extended[1];
    } else if (len == 127) {
        return -1;
    }
    if (len > capacity || read_all(fd, buffer, len) != 0) return -1;
    return (long)len;
}

/* Appends an MQTT string (2-byte length + bytes). */
static size_t put_string(unsigned char *out, const char *text) {
    size_t len = strlen(text);
    out[0] = (unsigned char)(len >> 8);
    out[1] = (unsigned char)(len & 0xff);
    memcpy(out + 2, text, len);
    return len + 2;
}

/* Sends an MQTT packet: `type` byte, then the remaining length (varint), then `body`. */
static int mqtt_send(int fd, unsigned char type, const unsigned char *body, size_t len) {
    unsigned char packet[1024];
    size_t used = 0;
    packet[used++] = type;
    size_t remaining = len;
    do {
        unsigned char byte = remaining % 128;
        remaining /= 128;
        if (remaining > 0) byte |= 0x80;
        packet[used++] = byte;
    } while (remaining > 0);
    if (used + len > sizeof packet) return -1;
    memcpy(packet + used, body, len);
    return ws_send(fd, packet, used + len);
}

/* Login → provider URL → MQTT CONNECT, SUBSCRIBE, PUBLISH, and the PUBLISH back. */
static void mqtt_round_trip(agora_link_iot_provider *provider, const char *thing) {
    char *url = NULL;
    EXPECT(agora_link_iot_provider_mqtt_url(provider, &url, NULL), AGORA_LINK_OK);
    char *client_id = NULL;
    EXPECT(agora_link_iot_provider_client_id(provider, &client_id, NULL), AGORA_LINK_OK);
    int fd = -1;
    CHECK(url && client_id && open_websocket(url, NULL, 0, &fd) == 101);
    agora_link_string_free(url);
    if (fd < 0 || !client_id) {
        agora_link_string_free(client_id);
        return;
    }
    unsigned char body[512], frame[1024];
    size_t used = 0;
    used += put_string(body, "MQTT");
    body[used++] = 4;    /* protocol level 3.1.1 */
    body[used++] = 0x02; /* clean session */
    body[used++] = 0;
    body[used++] = 30; /* keep-alive 30 s */
    used += put_string(body + used, client_id);
    agora_link_string_free(client_id);
    CHECK(mqtt_send(fd, 0x10, body, used) == 0);
    long got = ws_recv(fd, frame, sizeof frame);
    CHECK(got == 4 && frame[0] == 0x20 && frame[3] == 0); /* CONNACK, accepted */

    char filter[256], topic[256];
    snprintf(filter, sizeof filter, "$aws/things/%s/shadow/get/+", thing);
    snprintf(topic, sizeof topic, "$aws/things/%s/shadow/get/accepted", thing);
    used = 0;
    body[used++] = 0;
    body[used++] = 1; /* packet id */
    used += put_string(body + used, filter);
    body[used++] = 0; /* QoS 0 */
    CHECK(mqtt_send(fd, 0x82, body, used) == 0);
    got = ws_recv(fd, frame, sizeof frame);
    CHECK(got == 5 && frame[0] == 0x90 && frame[4] == 0); /* SUBACK, QoS 0 granted */

    const char *payload = "{\"state\":{\"reported\":{\"from\":\"c\"}}}";
    used = put_string(body, topic);
    memcpy(body + used, payload, strlen(payload));
    used += strlen(payload);
    CHECK(mqtt_send(fd, 0x30, body, used) == 0);
    got = ws_recv(fd, frame, sizeof frame);
    CHECK(got > 2 && (frame[0] & 0xf0) == 0x30); /* the PUBLISH back */
    if (got > 2) {
        size_t topic_len = ((size_t)frame[2] << 8) | frame[3];
        CHECK(topic_len == strlen(topic) && memcmp(frame + 4, topic, topic_len) == 0);
        CHECK((size_t)got == 4 + topic_len + strlen(payload) &&
              memcmp(frame + 4 + topic_len, payload, strlen(payload)) == 0);
    }
    const unsigned char disconnect[2] = {0xe0, 0x00};
    ws_send(fd, disconnect, 2);
    close(fd);
}

/* POST to the sandbox's admin API. */
static int admin_post(const char *endpoint, const char *path) {
    char authority[128], request[512];
    int fd = connect_to(endpoint, authority, sizeof authority);
    if (fd < 0) return -1;
    snprintf(request, sizeof request,
             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", path,
             authority);
    int status = write(fd, request, strlen(request)) > 0 ? read_status(fd, NULL, 0) : -1;
    close(fd);
    return status;
}

static void presign_into_buffers(void) {
    const char *endpoint = "data.iot.us-east-1.amazonaws.com";
    const int64_t at = 1498682925000; /* 2017-06-28T20:48:45Z */
    size_t needed = 0;
    agora_link_error *error = NULL;
    EXPECT(agora_link_iot_presign(endpoint, NULL, "TRUSTMETHISIDISFAKE0",
                                  "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11", NULL, at, NULL, 0,
                                  &needed, &error),
           AGORA_LINK_ERROR_BUFFER_TOO_SMALL);
    CHECK(error != NULL && strstr(agora_link_error_message(error), "bytes") != NULL);
    agora_link_error_free(error);
    CHECK(needed > 100);
    char *buffer = malloc(needed);
    size_t written = 0;
    EXPECT(agora_link_iot_presign(endpoint, "", "TRUSTMETHISIDISFAKE0",
                                  "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11", NULL, at, buffer,
                                  needed, &written, NULL),
           AGORA_LINK_OK);
    CHECK(written == needed && strlen(buffer) + 1 == needed);
    /* The signature the sandbox's independent verifier also accepts (sandbox/src/iot.rs). */
    CHECK(strstr(buffer, "X-Amz-Signature=26b19e1d5f79e90c742aff838d2679be9ea0dcf4505a3e5d5e7262a5a255f938") != NULL);
    const char *prefix = "wss://data.iot.us-east-1.amazonaws.com/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&";
    CHECK(strncmp(buffer, prefix, strlen(prefix)) == 0);
    /* One byte short. */
    EXPECT(agora_link_iot_presign(endpoint, "us-east-1", "TRUSTMETHISIDISFAKE0",
                                  "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11", NULL, at, buffer,
                                  needed - 1, NULL, NULL),
           AGORA_LINK_ERROR_BUFFER_TOO_SMALL);
    memset(buffer, 0, needed);
    free(buffer);

    char *url = NULL;
    EXPECT(agora_link_iot_presign_string("abc-ats.iot.cn-north-1.amazonaws.com.cn", NULL, "ASIAX",
                                         "secret", "to/ken", 0, &url, NULL),
           AGORA_LINK_OK);
    CHECK(url && strstr(url, "%2Fcn-north-1%2Fiotdevicegateway%2F") != NULL);
    CHECK(url && strstr(url, "&X-Amz-Security-Token=to%2Fken") != NULL);
    agora_link_string_free(url);

    url = NULL;
    EXPECT(agora_link_iot_presign_string(NULL, NULL, "A", "S", NULL, 0, &url, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_iot_presign_string("broker.example.com", NULL, "A", "S", NULL, 0, &url, NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_iot_presign_string("ws://example.com:1/mqtt", "us-east-1", "A", "S", NULL, 0,
                                         &url, NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_iot_presign_string("x.iot.us-east-1.amazonaws.com", NULL, "A", "\xff", NULL,
                                         0, &url, NULL),
           AGORA_LINK_ERROR_INVALID_UTF8);
    CHECK(url == NULL);
}

struct events {
    /* Guards the fields below: the callback runs on a library thread. */
    pthread_mutex_t state_lock;
    int refreshed;
    uint32_t last_source;
    int64_t expires_at_ms;
    int on_caller_thread;
    int lock_timed_out;
    /* A host's own lock, held around the provider's calls and taken by the callback too. */
    pthread_mutex_t host_lock;
    pthread_t caller;
};

static void on_event(void *user_data, uint32_t event, uint32_t source, int64_t expires_at_ms) {
    struct events *events = user_data;
    /* Called inside mqtt_url on the caller's thread, this would deadlock: a 2 s bound says so. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    int timed_out = pthread_mutex_timedlock(&events->host_lock, &until) != 0;
    if (!timed_out) pthread_mutex_unlock(&events->host_lock);
    pthread_mutex_lock(&events->state_lock);
    if (pthread_equal(pthread_self(), events->caller)) events->on_caller_thread = 1;
    if (timed_out) events->lock_timed_out = 1;
    if (event == AGORA_LINK_IOT_EVENT_REFRESHED) {
        events->refreshed++;
        events->last_source = source;
        events->expires_at_ms = expires_at_ms;
    }
    pthread_mutex_unlock(&events->state_lock);
}

/* A copy of the events seen so far, once `count` refreshes arrived or after 10 s: events arrive
 * on a library thread, possibly just after the call that caused them returned. */
static struct events wait_refreshed(struct events *events, int count) {
    struct events seen;
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&events->state_lock);
        seen = *events;
        pthread_mutex_unlock(&events->state_lock);
        if (seen.refreshed >= count) break;
        usleep(1000);
    }
    return seen;
}

static void gateway_and_provider(const char *endpoint) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    EXPECT(agora_link_config_new(AGORA_LINK_REGION_CN, "sandbox-client-id", "sandbox-client-secret",
                                 &config, NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_password_grant(config, "sandbox-user", "sandbox-password", NULL),
           AGORA_LINK_OK);
    EXPECT(agora_link_config_set_base_url(config, endpoint, NULL), AGORA_LINK_OK);
    EXPECT(agora_link_client_new(config, &client, NULL), AGORA_LINK_OK);
    agora_link_config_free(config);

    agora_link_account *account = NULL;
    agora_link_login *login = NULL;
    char name[64];
    snprintf(name, sizeof name, "c-device-%ld", (long)getpid()); /* unique per run */
    EXPECT(agora_link_client_register_account(client, "c-iot", name, &account, NULL),
           AGORA_LINK_OK);
    if (!account) return;
    EXPECT(agora_link_client_login_account(client, "c-iot", name,
                                           agora_link_account_get(account)->token, &login, NULL),
           AGORA_LINK_OK);
    if (!login) return;

    char *url = NULL;
    EXPECT(agora_link_login_mqtt_url(client, login, &url, NULL), AGORA_LINK_OK);
    CHECK(url && strncmp(url, "ws://127.0.0.1:", 15) == 0);
    CHECK(url && upgrade(url, NULL, 0) == 101);
    agora_link_string_free(url);

    struct events events;
    memset(&events, 0, sizeof events);
    pthread_mutex_init(&events.state_lock, NULL);
    pthread_mutex_init(&events.host_lock, NULL);
    events.caller = pthread_self();
    agora_link_iot_provider *provider = NULL;
    EXPECT(agora_link_iot_provider_new(client, login, endpoint, on_event, &events, &provider, NULL),
           AGORA_LINK_OK);
    char *client_id = NULL;
    EXPECT(agora_link_iot_provider_client_id(provider, &client_id, NULL), AGORA_LINK_OK);
    CHECK(client_id && strcmp(client_id, agora_link_login_get(login)->identity_id) == 0);
    agora_link_string_free(client_id);

    /* The gateway refuses expired credentials with 403 and a Date header... */
    CHECK(admin_post(endpoint, "/_sandbox/iot/expire-sessions") == 204);
    url = NULL;
    EXPECT(agora_link_iot_provider_mqtt_url(provider, &url, NULL), AGORA_LINK_OK);
    char date[128];
    CHECK(url && upgrade(url, date, sizeof date) == 403);
    CHECK(strlen(date) > 20);
    agora_link_string_free(url);
    /* ...the provider is told, and renews them through Cognito. */
    EXPECT(agora_link_iot_provider_refused(provider, date, NULL), AGORA_LINK_OK);
    url = NULL;
    /* The host holds its own lock around the call that refreshes (issue 19): the callback, which
     * takes the same lock, runs on a library thread once it is released. */
    pthread_mutex_lock(&events.host_lock);
    EXPECT(agora_link_iot_provider_mqtt_url(provider, &url, NULL), AGORA_LINK_OK);
    /* Still holding it, a call that needs the network: the callback waiting for the lock must
     * not hold a worker the call needs (with AGORA_LINK_WORKER_THREADS=1 that was a stall). */
    agora_link_package_list *packages = NULL;
    EXPECT(agora_link_client_list_packages(client, &packages, NULL), AGORA_LINK_OK);
    agora_link_package_list_free(packages);
    pthread_mutex_unlock(&events.host_lock);
    CHECK(url && upgrade(url, NULL, 0) == 101);
    agora_link_string_free(url);
    struct events seen = wait_refreshed(&events, 1);
    CHECK(seen.refreshed == 1);
    CHECK(seen.last_source == AGORA_LINK_IOT_SOURCE_COGNITO);
    CHECK(seen.expires_at_ms > 0);
    CHECK(seen.on_caller_thread == 0);
    CHECK(seen.lock_timed_out == 0);

    /* MQTT through the gateway to the broker: subscribe, publish, receive. */
    mqtt_round_trip(provider, name);

    /* A new login replaces the identity. */
    pthread_mutex_lock(&events.host_lock);
    EXPECT(agora_link_iot_provider_update_login(provider, login, NULL), AGORA_LINK_OK);
    pthread_mutex_unlock(&events.host_lock);
    seen = wait_refreshed(&events, 2);
    CHECK(seen.refreshed == 2 && seen.last_source == AGORA_LINK_IOT_SOURCE_RELOGIN);
    CHECK(seen.on_caller_thread == 0);
    CHECK(seen.lock_timed_out == 0);
    EXPECT(agora_link_iot_provider_refused(provider, "not a date", NULL),
           AGORA_LINK_ERROR_INVALID_ARGUMENT);
    EXPECT(agora_link_iot_provider_refused(NULL, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_iot_provider_mqtt_url(provider, NULL, NULL), AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_iot_provider_new(client, NULL, NULL, NULL, NULL, &provider, NULL),
           AGORA_LINK_ERROR_NULL_POINTER);
    EXPECT(agora_link_login_mqtt_url(NULL, login, &url, NULL), AGORA_LINK_ERROR_NULL_POINTER);

    agora_link_iot_provider_free(provider);
    agora_link_iot_provider_free(NULL);
    agora_link_login_free(login);
    agora_link_account_free(account);
    agora_link_client_free(client);
}

int main(void) {
    const char *endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (!endpoint || strncmp(endpoint, "http://", 7) != 0) {
        fprintf(stderr, "set AGORA_LINK_ENDPOINT to the sandbox URL (started with --iot-gateway)\n");
        return 2;
    }
    /* The runtime as a firmware host sizes it (scripts/test-cross: 1 worker, 256 KiB stacks). */
    const char *workers = getenv("AGORA_LINK_WORKER_THREADS");
    const char *stack = getenv("AGORA_LINK_THREAD_STACK_BYTES");
    if (workers != NULL) {
        EXPECT(agora_link_set_worker_threads((uint32_t)strtoul(workers, NULL, 10)), AGORA_LINK_OK);
    }
    if (stack != NULL) {
        EXPECT(agora_link_set_thread_stack_size((size_t)strtoull(stack, NULL, 10)), AGORA_LINK_OK);
    }
    presign_into_buffers();
    gateway_and_provider(endpoint);
    EXPECT(agora_link_shutdown(2000), AGORA_LINK_OK);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("iot: all checks passed\n");
    return 0;
}
