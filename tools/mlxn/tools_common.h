/* Shared bits of the mlxn subcommands: version string, error printing. */
#ifndef MLXN_TOOLS_COMMON_H
#define MLXN_TOOLS_COMMON_H
#include "mlxn.h"
#include <stdio.h>

#define MLXN_VERSION_STRING "0.1.0"

/* Prints "mlxn <cmd>: <status>: <last error>" to stderr and returns exit code 1. */
static inline int tool_fail(const char *cmd, mlxn_status st) {
    fprintf(stderr, "mlxn %s: %s: %s\n", cmd, mlxn_status_str(st), mlxn_last_error());
    return 1;
}
#endif
