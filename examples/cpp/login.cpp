// The login flow from C++17: RAII ownership of every handle through std::unique_ptr with the
// library's free functions, errors as exceptions. Environment: as the C examples.
#include "agora_link.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace agora {

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *pointer) const { Free(pointer); }
};
template <typename T, void (*Free)(T *)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using Config = Owned<agora_link_config, agora_link_config_free>;
using Client = Owned<agora_link_client, agora_link_client_free>;
using Token = Owned<agora_link_token, agora_link_token_free>;
using Account = Owned<agora_link_account, agora_link_account_free>;
using Login = Owned<agora_link_login, agora_link_login_free>;
using PackageList = Owned<agora_link_package_list, agora_link_package_list_free>;
using Error = Owned<agora_link_error, agora_link_error_free>;

// Throws with the error's description when `result` is not OK. Takes the address of the error
// out-parameter, read only after the call has returned (argument evaluation order is unspecified).
void check(agora_link_result result, agora_link_error **slot, const char *what) {
    Error error(*slot);
    *slot = nullptr;
    if (result != AGORA_LINK_OK) {
        std::string message = std::string(what) + ": " + agora_link_result_name(result);
        if (error) {
            message += std::string(": ") + agora_link_error_message(error.get());
        }
        throw std::runtime_error(message);
    }
}

std::string env(const char *name, const char *fallback = "") {
    const char *value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace agora

int main() {
    using namespace agora;
    try {
        agora_link_error *error = nullptr;
        agora_link_config *raw_config = nullptr;
        const uint32_t region = env("AGORA_LINK_REGION", "cn") == "na" ? AGORA_LINK_REGION_NA
                                                                     : AGORA_LINK_REGION_CN;
        check(agora_link_config_new(region, env("AGORA_LINK_CLIENT_ID").c_str(),
                                    env("AGORA_LINK_CLIENT_SECRET").c_str(), &raw_config, &error),
              &error, "config_new");
        Config config(raw_config);
        if (!env("AGORA_LINK_ENDPOINT").empty()) {
            check(agora_link_config_set_base_url(config.get(), env("AGORA_LINK_ENDPOINT").c_str(),
                                                 &error),
                  &error, "set_base_url");
        }
        if (!env("AGORA_LINK_USERNAME").empty()) {
            check(agora_link_config_set_password_grant(config.get(),
                                                       env("AGORA_LINK_USERNAME").c_str(),
                                                       env("AGORA_LINK_PASSWORD").c_str(), &error),
                  &error, "set_password_grant");
        }
        agora_link_client *raw_client = nullptr;
        check(agora_link_client_new(config.get(), &raw_client, &error), &error, "client_new");
        Client client(raw_client);

        const std::string project = env("AGORA_LINK_PROJECT_ID", "cpp-example-project");
        const std::string name = "cpp-login-" + std::to_string(getpid());
        agora_link_account *raw_account = nullptr;
        check(agora_link_client_register_account(client.get(), project.c_str(), name.c_str(),
                                                 &raw_account, &error),
              &error, "register");
        Account account(raw_account);
        agora_link_login *raw_login = nullptr;
        check(agora_link_client_login_account(client.get(), project.c_str(), name.c_str(),
                                              agora_link_account_get(account.get())->token,
                                              &raw_login, &error),
              &error, "login");
        Login login(raw_login);
        const agora_link_login_view &view = *agora_link_login_get(login.get());
        std::cout << "C++17: MQTT client id " << view.identity_id << ", endpoint " << view.endpoint
                  << ", keys expire at " << view.session_expiration_ms << " ms\n";

        agora_link_package_list *raw_list = nullptr;
        check(agora_link_client_list_packages(client.get(), &raw_list, &error), &error, "list");
        PackageList list(raw_list);
        std::cout << "C++17: " << agora_link_package_list_len(list.get()) << " packages\n";
        check(agora_link_client_remove_account(client.get(), project.c_str(), name.c_str(),
                                               agora_link_account_get(account.get())->token,
                                               &error),
              &error, "remove");
    } catch (const std::exception &failure) {
        std::cerr << failure.what() << '\n';
        agora_link_shutdown(2000);
        return 1;
    }
    return agora_link_shutdown(2000) == AGORA_LINK_OK ? 0 : 1;
}
