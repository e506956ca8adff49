/* Internal access to a parsed config.json's cJSON tree, for architecture code that needs
 * keys mlxn_hf_config does not carry. The tree is borrowed from the handle. */
#ifndef MLXN_FORMATS_HF_CONFIG_H
#define MLXN_FORMATS_HF_CONFIG_H
#include "mlxn.h"
#include <cjson/cJSON.h>

const cJSON *mlxn_hf_config_json(const mlxn_hf_config_t *c);
#endif
