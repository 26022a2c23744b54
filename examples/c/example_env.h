/*
 * Shared by the C examples: a client configuration from the same environment variables as the
 * CLI, and error reporting. Plain C99; include after agora_link.h.
 */
#ifndef AGORA_LINK_EXAMPLE_ENV_H
#define AGORA_LINK_EXAMPLE_ENV_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return (value != NULL && value[0] != '\0') ? value : fallback;
}

/* Prints a failed call and frees its error. Returns 1 (for "exit code"). */
static inline int report(const char *what, enum agora_link_result result, agora_link_error *error) {
    fprintf(stderr, "%s failed: %s", what, agora_link_result_name((int32_t)result));
    if (error != NULL) {
        const char *trace = agora_link_error_trace_id(error);
        fprintf(stderr, ": %s (server code %lld, HTTP %u%s%s)", agora_link_error_message(error),
                (long long)agora_link_error_server_code(error),
                (unsigned)agora_link_error_http_status(error), trace ? ", trace " : "",
                trace ? trace : "");
        agora_link_error_free(error);
    }
    fputc('\n', stderr);
    return 1;
}

/* Masks a secret for printing as the library and the CLI do: its first 4 characters, an ellipsis
 * (UTF-8) and its length, `ASIA…(20)`; `***` below 12 characters. */
static inline const char *masked(const char *secret, char *buffer, size_t size) {
    size_t length = secret ? strlen(secret) : 0;
    if (length < 12) {
        snprintf(buffer, size, "***");
    } else {
        snprintf(buffer, size, "%.4s" "\xe2\x80\xa6" "(%zu)", secret, length);
    }
    return buffer;
}

/*
 * A configuration from AGORA_LINK_REGION (cn|na), AGORA_LINK_ENDPOINT, AGORA_LINK_CLIENT_ID,
 * AGORA_LINK_CLIENT_SECRET, AGORA_LINK_USERNAME and AGORA_LINK_PASSWORD. NULL on error
 * (reported on stderr).
 */
static inline agora_link_config *config_from_env(void) {
    const char *client_id = getenv("AGORA_LINK_CLIENT_ID");
    const char *client_secret = getenv("AGORA_LINK_CLIENT_SECRET");
    if (client_id == NULL || client_secret == NULL) {
        fprintf(stderr, "set AGORA_LINK_CLIENT_ID and AGORA_LINK_CLIENT_SECRET\n");
        return NULL;
    }
    uint32_t region = strcmp(env_or("AGORA_LINK_REGION", "cn"), "na") == 0 ? AGORA_LINK_REGION_NA
                                                                           : AGORA_LINK_REGION_CN;
    agora_link_config *config = NULL;
    agora_link_error *error = NULL;
    enum agora_link_result result =
        agora_link_config_new(region, client_id, client_secret, &config, &error);
    if (result != AGORA_LINK_OK) {
        report("agora_link_config_new", result, error);
        return NULL;
    }
    const char *endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (endpoint != NULL && endpoint[0] != '\0') {
        result = agora_link_config_set_base_url(config, endpoint, &error);
        if (result != AGORA_LINK_OK) {
            report("agora_link_config_set_base_url", result, error);
            agora_link_config_free(config);
            return NULL;
        }
    }
    const char *username = getenv("AGORA_LINK_USERNAME");
    const char *password = getenv("AGORA_LINK_PASSWORD");
    if (username != NULL && password != NULL) {
        result = agora_link_config_set_password_grant(config, username, password, &error);
        if (result != AGORA_LINK_OK) {
            report("agora_link_config_set_password_grant", result, error);
            agora_link_config_free(config);
            return NULL;
        }
    }
    return config;
}

/* The decimal number in the variable `name` (its text `text`) into *out: 0, or -1 (reported,
 * naming the variable) when the text is not a whole number from 0 to `max`. */
static inline int number_from_env(const char *name, const char *text, unsigned long long max,
                                  unsigned long long *out) {
    char *end = NULL;
    unsigned long long value;
    errno = 0;
    value = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || errno != 0 || end == NULL || *end != '\0' || value > max) {
        fprintf(stderr, "%s=\"%s\" is not a whole number from 0 to %llu\n", name, text, max);
        return -1;
    }
    *out = value;
    return 0;
}

/*
 * The library runtime as a firmware host sizes it, from AGORA_LINK_WORKER_THREADS (default 2)
 * and AGORA_LINK_THREAD_STACK_BYTES (default 0: 2 MiB). Before the first call. 0 on success.
 */
static inline int runtime_from_env(void) {
    const char *workers = getenv("AGORA_LINK_WORKER_THREADS");
    const char *stack = getenv("AGORA_LINK_THREAD_STACK_BYTES");
    enum agora_link_result result;
    unsigned long long value = 0;
    if (workers != NULL && workers[0] != '\0') {
        if (number_from_env("AGORA_LINK_WORKER_THREADS", workers, UINT32_MAX, &value) != 0) {
            return -1;
        }
        result = agora_link_set_worker_threads((uint32_t)value);
        if (result != AGORA_LINK_OK) {
            return report("agora_link_set_worker_threads", result, NULL);
        }
    }
    if (stack != NULL && stack[0] != '\0') {
        if (number_from_env("AGORA_LINK_THREAD_STACK_BYTES", stack, SIZE_MAX, &value) != 0) {
            return -1;
        }
        result = agora_link_set_thread_stack_size((size_t)value);
        if (result != AGORA_LINK_OK) {
            return report("agora_link_set_thread_stack_size", result, NULL);
        }
    }
    return 0;
}

/* A client configured from the environment (see config_from_env and runtime_from_env). NULL on
 * error (reported). */
static inline agora_link_client *client_from_env(void) {
    if (runtime_from_env() != 0) {
        return NULL;
    }
    agora_link_config *config = config_from_env();
    if (config == NULL) {
        return NULL;
    }
    agora_link_client *client = NULL;
    agora_link_error *error = NULL;
    enum agora_link_result result = agora_link_client_new(config, &client, &error);
    agora_link_config_free(config);
    if (result != AGORA_LINK_OK) {
        report("agora_link_client_new", result, error);
        return NULL;
    }
    return client;
}

#endif
