/*
 * One client shared by many threads: blocking calls from 8 threads at once, then 32
 * asynchronous logins whose callbacks run on library threads (each exactly once), one of which
 * calls back into the library. Environment: see example_env.h, plus AGORA_LINK_PROJECT_ID.
 * Exits non-zero on any error.
 */
#include "agora_link.h"
#include "example_env.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 3
#define ASYNC_CALLS 32

static agora_link_client *client;
static const char *project_id;

struct worker {
    int index;
    int failures;
};

static void *blocking_worker(void *argument) {
    struct worker *worker = argument;
    for (int round = 0; round < ROUNDS; round++) {
        char name[96];
        snprintf(name, sizeof name, "c-thread-%ld-%d-%d", (long)getpid(), worker->index, round);
        agora_link_account *account = NULL;
        agora_link_login *login = NULL;
        agora_link_error *error = NULL;
        enum agora_link_result result =
            agora_link_client_register_account(client, project_id, name, &account, &error);
        if (result != AGORA_LINK_OK) {
            worker->failures += report("register (thread)", result, error);
            continue;
        }
        result = agora_link_client_login_account(client, project_id, name,
                                                 agora_link_account_get(account)->token, &login,
                                                 &error);
        if (result != AGORA_LINK_OK) {
            worker->failures += report("login (thread)", result, error);
        } else if (agora_link_login_get(login)->identity_id[0] == '\0') {
            worker->failures++;
        }
        agora_link_login_free(login);
        agora_link_account_free(account);
    }
    return NULL;
}

/* Completion bookkeeping for the asynchronous calls. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int completions[ASYNC_CALLS + 1];
static int pending;
static int async_failures;
static int nested_started;

struct async_call {
    int index;
    char account[96];
};

static void finish(int index, int failed) {
    pthread_mutex_lock(&lock);
    completions[index]++;
    async_failures += failed;
    pending--;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void on_nested_token(void *user_data, enum agora_link_result result,
                            agora_link_token *token, agora_link_error *error) {
    (void)user_data;
    int failed = result != AGORA_LINK_OK;
    if (failed) {
        report("nested get_token_async", result, error);
    }
    agora_link_token_free(token);
    finish(ASYNC_CALLS, failed);
}

static void on_login(void *user_data, enum agora_link_result result, agora_link_login *login,
                     agora_link_error *error) {
    struct async_call *call = user_data;
    int failed = 0;
    if (result != AGORA_LINK_OK) {
        failed = report("login_account_async", result, error);
    } else if (agora_link_login_get(login)->identity_id[0] == '\0') {
        failed = 1;
    }
    agora_link_login_free(login);
    if (call->index == 0) {
        /* Inside a callback: a blocking call must refuse, an asynchronous one must work. */
        agora_link_token *token = NULL;
        enum agora_link_result blocked = agora_link_client_get_token(client, &token, NULL);
        if (blocked != AGORA_LINK_ERROR_WOULD_DEADLOCK || token != NULL) {
            fprintf(stderr, "blocking call inside a callback returned %s\n",
                    agora_link_result_name((int32_t)blocked));
            failed = 1;
        }
        pthread_mutex_lock(&lock);
        pending++;
        nested_started = 1;
        pthread_mutex_unlock(&lock);
        enum agora_link_result started =
            agora_link_client_get_token_async(client, on_nested_token, NULL, NULL, NULL);
        if (started != AGORA_LINK_OK) {
            fprintf(stderr, "async call inside a callback returned %s\n",
                    agora_link_result_name((int32_t)started));
            finish(ASYNC_CALLS, 1);
        }
    }
    finish(call->index, failed);
}

int main(void) {
    project_id = env_or("AGORA_LINK_PROJECT_ID", "c-concurrent-project");
    client = client_from_env();
    if (client == NULL) {
        return 1;
    }
    agora_link_error *error = NULL;
    enum agora_link_result result;
    int failures = 0;

    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.index = i, .failures = 0};
        pthread_create(&threads[i], NULL, blocking_worker, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failures += workers[i].failures;
    }
    printf("blocking: %d threads x %d register+login on one client, %d failures\n", THREADS, ROUNDS,
           failures);

    /* Accounts for the asynchronous logins, registered up front. */
    struct async_call calls[ASYNC_CALLS];
    agora_link_account *accounts[ASYNC_CALLS] = {0};
    for (int i = 0; i < ASYNC_CALLS; i++) {
        calls[i].index = i;
        snprintf(calls[i].account, sizeof calls[i].account, "c-async-%ld-%d", (long)getpid(), i);
        result = agora_link_client_register_account(client, project_id, calls[i].account,
                                                    &accounts[i], &error);
        if (result != AGORA_LINK_OK) {
            return report("register (async setup)", result, error);
        }
    }
    pending = ASYNC_CALLS;
    for (int i = 0; i < ASYNC_CALLS; i++) {
        agora_link_call *handle = NULL;
        result = agora_link_client_login_account_async(client, project_id, calls[i].account,
                                                       agora_link_account_get(accounts[i])->token,
                                                       on_login, &calls[i], &handle, &error);
        if (result != AGORA_LINK_OK) {
            report("login_account_async", result, error);
            finish(i, 1);
        }
        agora_link_call_free(handle); /* does not cancel */
    }
    pthread_mutex_lock(&lock);
    while (pending > 0) {
        pthread_cond_wait(&changed, &lock);
    }
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < ASYNC_CALLS; i++) {
        if (completions[i] != 1) {
            fprintf(stderr, "callback %d ran %d times\n", i, completions[i]);
            failures++;
        }
        agora_link_account_free(accounts[i]);
    }
    if (!nested_started || completions[ASYNC_CALLS] != 1) {
        fprintf(stderr, "the nested asynchronous call did not complete exactly once\n");
        failures++;
    }
    failures += async_failures;
    printf("async: %d logins, each callback exactly once, nested call ok, %d failures\n",
           ASYNC_CALLS, async_failures);

    agora_link_client_free(client);
    result = agora_link_shutdown(2000);
    if (result != AGORA_LINK_OK) {
        failures += report("agora_link_shutdown", result, NULL);
    }
    printf("%s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
