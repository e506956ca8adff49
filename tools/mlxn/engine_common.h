/* Shared by the engine subcommands (run, bench): choosing and opening a backend from a
 * --device flag, and loading a model with a progress bar. */
#ifndef MLXN_TOOLS_ENGINE_COMMON_H
#define MLXN_TOOLS_ENGINE_COMMON_H
#include "tools_common.h"

/* The best device when none is asked for: "cuda" when a GPU is visible, else "cpu". */
const char *tool_default_device(void);

/* Opens the backend for --device DEV ("cpu", "ref", "cuda", "cuda:N"; NULL = the default)
 * with n_threads CPU threads (0 = all cores). Prints the error and returns 1 on failure. */
int tool_open_backend(const char *cmd, const char *device, int n_threads, mlxn_backend_t **out);

/* Loads path, drawing a progress bar on stderr for files of 64 MiB and more when stderr is a
 * terminal. Prints the error and returns 1 on failure. */
int tool_load_model(const char *cmd, const char *path, mlxn_backend_t *be, bool quiet, mlxn_model_t **out);

/* Parses a non-negative int option value; prints and returns false when it is not one. */
bool tool_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out);
bool tool_parse_float(const char *cmd, const char *flag, const char *s, float *out);

/* Seconds on a monotonic clock. */
double tool_now(void);
#endif
