/*
 * fork() and the C API, against the sandbox binary (AGORA_LINK_ENDPOINT). The patterns of C
 * daemons that fork: the parent makes a call, forks, and then
 *   - the child makes its own client and a call (the parent used to die with SIGSEGV);
 *   - the child reuses the client it inherited (it used to hang for ever);
 *   - the child makes asynchronous calls and frees everything;
 *   - several children run at once while the parent keeps calling;
 * and after each the parent's own client and a new one still work. Every wait is bounded (an
 * alarm in the child, a deadline on waitpid). Exits non-zero if any check fails.
 */
#include "agora_link.h"
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static const char *endpoint;

static agora_link_client *new_client(void) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    CHECK(agora_link_config_new(AGORA_LINK_REGION_CN, "sandbox-client-id", "sandbox-client-secret",
                                &config, NULL) == AGORA_LINK_OK);
    CHECK(agora_link_config_set_password_grant(config, "sandbox-user", "sandbox-password", NULL) ==
          AGORA_LINK_OK);
    CHECK(agora_link_config_set_base_url(config, endpoint, NULL) == AGORA_LINK_OK);
    CHECK(agora_link_config_set_call_deadline_ms(config, 10000, NULL) == AGORA_LINK_OK);
    CHECK(agora_link_client_new(config, &client, NULL) == AGORA_LINK_OK);
    agora_link_config_free(config);
    return client;
}

/* One blocking call that must succeed. */
static int list(const agora_link_client *client) {
    agora_link_package_list *packages = NULL;
    agora_link_error *error = NULL;
    agora_link_result result = agora_link_client_list_packages(client, &packages, &error);
    if (result != AGORA_LINK_OK) {
        fprintf(stderr, "[%d] list_packages: %s: %s\n", (int)getpid(),
                agora_link_result_name((int32_t)result), error ? agora_link_error_message(error) : "");
    }
    agora_link_error_free(error);
    agora_link_package_list_free(packages);
    return result == AGORA_LINK_OK;
}

/* Asynchronous calls in the child: completed through callbacks on the child's own runtime. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int completed, succeeded;

static void on_packages(void *user_data, agora_link_result result, agora_link_package_list *list,
                        agora_link_error *error) {
    (void)user_data;
    agora_link_package_list_free(list);
    agora_link_error_free(error);
    pthread_mutex_lock(&lock);
    completed++;
    succeeded += result == AGORA_LINK_OK;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
}

static int async_calls(const agora_link_client *client, int count) {
    completed = succeeded = 0;
    for (int i = 0; i < count; i++) {
        CHECK(agora_link_client_list_packages_async(client, on_packages, NULL, NULL, NULL) ==
              AGORA_LINK_OK);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&lock);
    while (completed < count) {
        if (pthread_cond_timedwait(&done_cond, &lock, &until) != 0) break;
    }
    int ok = succeeded == count;
    pthread_mutex_unlock(&lock);
    return ok;
}

enum child_kind { OWN_CLIENT, INHERITED_CLIENT, ASYNC_AND_FREE, NOTHING };

static int child_main(enum child_kind kind, agora_link_client *inherited) {
    alarm(90); /* a hang is a failure, not a stuck test (generous: valgrind is slow) */
    failures = 0; /* the child's own checks */
    int ok = 1;
    switch (kind) {
    case OWN_CLIENT: {
        agora_link_client *own = new_client();
        ok = list(own) && list(own);
        agora_link_client_free(own);
        break;
    }
    case INHERITED_CLIENT:
        ok = list(inherited) && list(inherited);
        break;
    case ASYNC_AND_FREE: {
        ok = async_calls(inherited, 8);
        agora_link_client *own = new_client();
        ok = ok && async_calls(own, 8) && list(own);
        agora_link_client_free(own);
        agora_link_client_free(inherited);
        ok = ok && agora_link_shutdown(5000) == AGORA_LINK_OK;
        break;
    }
    case NOTHING:
        break;
    }
    return ok && failures == 0 ? 0 : 1;
}

/* Waits for `pid` at most 120 s; returns its exit status, or -1 (killed, hung, crashed). */
static int wait_child(pid_t pid) {
    for (int i = 0; i < 1200; i++) {
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            fprintf(stderr, "child %d died with signal %d\n", (int)pid, WTERMSIG(status));
            return -1;
        }
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "child %d hung\n", (int)pid);
    return -1;
}

/* gcc 12's AddressSanitizer has no fork() interceptor: a child forked while any parent thread
 * is inside ASan's allocator inherits its lock held and deadlocks on its first malloc (glibc's
 * own malloc resets its locks in the child). Under ASan (-DSANITIZER_FORK_SETTLE) the parent
 * lets the library's threads go idle before forking; plain and valgrind runs fork at once. */
static void settle(void) {
    fflush(NULL); /* nothing buffered is inherited and printed twice */
#ifdef SANITIZER_FORK_SETTLE
    usleep(200 * 1000);
#endif
}

static void run_pattern(const char *name, enum child_kind kind, agora_link_client *parent_client) {
    CHECK(list(parent_client));
    settle();
    pid_t pid = fork();
    if (pid == 0) {
        _exit(child_main(kind, parent_client));
    }
    CHECK(pid > 0);
    /* The parent keeps working while the child runs. */
    for (int i = 0; i < 5; i++) CHECK(list(parent_client));
    int status = wait_child(pid);
    if (status != 0) fprintf(stderr, "pattern %s: child status %d\n", name, status);
    CHECK(status == 0);
    /* And afterwards: its client, and a new one. */
    CHECK(list(parent_client));
    agora_link_client *fresh = new_client();
    CHECK(list(fresh));
    agora_link_client_free(fresh);
    printf("ok   fork: %s\n", name);
}

int main(void) {
    endpoint = getenv("AGORA_LINK_ENDPOINT");
    if (!endpoint) {
        fprintf(stderr, "AGORA_LINK_ENDPOINT is not set\n");
        return 2;
    }
    agora_link_client *client = new_client();
    for (int round = 0; round < 3; round++) {
        run_pattern("child with its own client", OWN_CLIENT, client);
        run_pattern("child reusing the inherited client", INHERITED_CLIENT, client);
        run_pattern("child with async calls, frees and shuts down", ASYNC_AND_FREE, client);
        run_pattern("child that does nothing", NOTHING, client);
    }
    /* Several children at once, a grandchild among them, while the parent calls. */
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        settle();
        pids[i] = fork();
        if (pids[i] == 0) {
            alarm(90);
            failures = 0;
            int ok = list(client);
            if (i == 0) {
                settle();
                pid_t grandchild = fork();
                if (grandchild == 0) _exit(child_main(INHERITED_CLIENT, client));
                ok = ok && wait_child(grandchild) == 0 && list(client);
            }
            _exit(ok && failures == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 10; i++) CHECK(list(client));
    for (int i = 0; i < 4; i++) {
        int status = wait_child(pids[i]);
        if (status != 0) fprintf(stderr, "child %d of four: status %d\n", i, status);
        CHECK(status == 0);
    }
    CHECK(list(client));
    printf("ok   fork: four children at once, one grandchild\n");
    agora_link_client_free(client);
    CHECK(agora_link_shutdown(5000) == AGORA_LINK_OK);
    return failures == 0 ? 0 : 1;
}
