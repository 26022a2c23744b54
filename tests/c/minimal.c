/*
 * A minimal firmware-style host for the size measurement: builds a client and reports the
 * version, linked against the static library. It makes no network call.
 */
#include "agora_link.h"

#include <stdio.h>

int main(void) {
    agora_link_config *config = NULL;
    agora_link_client *client = NULL;
    if (agora_link_config_new(AGORA_LINK_REGION_CN, "id", "secret", &config, NULL) != AGORA_LINK_OK ||
        agora_link_client_new(config, &client, NULL) != AGORA_LINK_OK) {
        return 1;
    }
    printf("agora-link %s\n", agora_link_version());
    agora_link_client_free(client);
    agora_link_config_free(config);
    return agora_link_shutdown(1000) == AGORA_LINK_OK ? 0 : 1;
}
