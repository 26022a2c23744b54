/*
 * The whole third-party flow from C, with blocking calls: token -> register -> login (every IoT
 * credential field, secrets masked) -> list, get and open a package -> remove the account.
 * Environment: see example_env.h, plus AGORA_LINK_PROJECT_ID and AGORA_LINK_ACCOUNT.
 * Exits non-zero on any error.
 */
#include "agora_link.h"
#include "example_env.h"

#include <time.h>
#include <unistd.h>

static long long seconds_until(int64_t epoch_ms) {
    return (long long)(epoch_ms / 1000 - (int64_t)time(NULL));
}

int main(void) {
    char mask[64];
    char account_name[96];
    const char *project_id = env_or("AGORA_LINK_PROJECT_ID", "c-example-project");
    snprintf(account_name, sizeof account_name, "%s",
             env_or("AGORA_LINK_ACCOUNT", "c-example-account"));
    if (getenv("AGORA_LINK_ACCOUNT") == NULL) {
        snprintf(account_name, sizeof account_name, "c-login-%ld-%ld", (long)getpid(),
                 (long)time(NULL));
    }
    printf("agora-link %s (header %s)\n", agora_link_version(), AGORA_LINK_VERSION_STRING);

    agora_link_client *client = client_from_env();
    if (client == NULL) {
        return 1;
    }
    agora_link_error *error = NULL;
    enum agora_link_result result;
    int status = 1;
    agora_link_token *token = NULL;
    agora_link_account *account = NULL;
    agora_link_login *login = NULL;
    agora_link_package_list *packages = NULL;
    agora_link_package *package = NULL;
    char *order_id = NULL;

    result = agora_link_client_get_token(client, &token, &error);
    if (result != AGORA_LINK_OK) {
        report("get_token", result, error);
        goto done;
    }
    const agora_link_token_view *t = agora_link_token_get(token);
    printf("1. REST token %s (%s), expires in %lld s\n", masked(t->access_token, mask, sizeof mask),
           t->token_type, seconds_until(t->expires_at_ms));

    result = agora_link_client_register_account(client, project_id, account_name, &account, &error);
    if (result != AGORA_LINK_OK) {
        report("register_account", result, error);
        goto done;
    }
    const agora_link_account_view *a = agora_link_account_get(account);
    printf("2. registered %s: userId %s, token %s\n", account_name, a->user_id,
           masked(a->token, mask, sizeof mask));

    result = agora_link_client_login_account(client, project_id, account_name, a->token, &login,
                                             &error);
    if (result != AGORA_LINK_OK) {
        report("login_account", result, error);
        goto done;
    }
    const agora_link_login_view *l = agora_link_login_get(login);
    printf("3. logged in; IoT credentials:\n");
    printf("   MQTT client id   %s\n", l->identity_id);
    printf("   endpoint         %s\n", l->endpoint);
    printf("   region           %s\n", l->region);
    printf("   account          %s\n", l->account);
    printf("   identifier       %s\n", l->identifier);
    printf("   identity pool    %s\n", l->identity_pool_id);
    printf("   cognito token    %s\n", masked(l->cognito_token, mask, sizeof mask));
    /* An identifier, not a secret (it is in every presigned URL), but masked in output a person
     * reads, like the secrets. */
    printf("   access key id    %s\n", masked(l->access_key_id, mask, sizeof mask));
    printf("   secret key       %s\n", masked(l->secret_key, mask, sizeof mask));
    printf("   session token    %s\n", masked(l->session_token, mask, sizeof mask));
    printf("   keys expire in   %lld s\n", seconds_until(l->session_expiration_ms));
    printf("   granwin token    %s, expires in %lld s (lifetime %llu s)\n",
           masked(l->granwin_token, mask, sizeof mask), seconds_until(l->expires_at_ms),
           (unsigned long long)l->expiration_s);
    printf("   account token    %s, expires in %lld s\n",
           masked(l->ls_token.access_token, mask, sizeof mask),
           seconds_until(l->ls_token.expires_at_ms));
    if (l->identity_id[0] == '\0' || l->endpoint[0] == '\0' || l->session_expiration_ms <= 0) {
        fprintf(stderr, "login returned empty IoT credentials\n");
        goto done;
    }

    result = agora_link_client_list_packages(client, &packages, &error);
    if (result != AGORA_LINK_OK) {
        report("list_packages", result, error);
        goto done;
    }
    size_t count = agora_link_package_list_len(packages);
    printf("4. %zu cloud-storage packages\n", count);
    for (size_t i = 0; i < count; i++) {
        const agora_link_package_view *p = agora_link_package_list_at(packages, i);
        printf("   #%lld %s (%s, %s)\n", (long long)p->id, p->name, p->package_type, p->life_cycle);
    }
    if (count == 0) {
        fprintf(stderr, "no package to open\n");
        goto done;
    }
    int64_t package_id = agora_link_package_list_at(packages, 0)->id;
    result = agora_link_client_get_package(client, package_id, &package, &error);
    if (result != AGORA_LINK_OK) {
        report("get_package", result, error);
        goto done;
    }
    char payment[96];
    snprintf(payment, sizeof payment, "c-payment-%ld-%ld", (long)getpid(), (long)time(NULL));
    agora_link_open_request request = {
        .app_id = env_or("AGORA_LINK_APP_ID", "c-example-app"),
        .user_id = a->user_id,
        .device_id = "c-example-device",
        .payment_order_id = payment,
        .package_id = agora_link_package_get(package)->id,
        .order_number = 1,
    };
    result = agora_link_client_open_package(client, &request, &order_id, &error);
    if (result != AGORA_LINK_OK) {
        report("open_package", result, error);
        goto done;
    }
    printf("5. opened package #%lld: order %s\n", (long long)request.package_id, order_id);

    result = agora_link_client_remove_account(client, project_id, account_name, a->token, &error);
    if (result != AGORA_LINK_OK) {
        report("remove_account", result, error);
        goto done;
    }
    printf("6. removed %s\n", account_name);
    status = 0;

done:
    agora_link_string_free(order_id);
    agora_link_package_free(package);
    agora_link_package_list_free(packages);
    agora_link_login_free(login);
    agora_link_account_free(account);
    agora_link_token_free(token);
    agora_link_client_free(client);
    result = agora_link_shutdown(2000);
    if (result != AGORA_LINK_OK) {
        return report("agora_link_shutdown", result, NULL);
    }
    return status;
}
