/* Internal error reporting: every failing path calls mlxn_fail(), which formats the
 * message into the thread's last-error buffer and returns the code, so a failure reads
 *     return mlxn_fail(MLXN_ERR_FORMAT, "%s: tensor '%s' at offset %llu ...", ...);
 * Handles that keep their own message copy it with mlxn_errbuf_save(). */
#ifndef MLXN_CORE_STATUS_H
#define MLXN_CORE_STATUS_H
#include "mlxn.h"
#include <stdarg.h>

#define MLXN_ERRMSG_MAX 1024

mlxn_status mlxn_fail(mlxn_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mlxn_status mlxn_failv(mlxn_status code, const char *fmt, va_list ap);

/* A per-handle copy of the last error. */
typedef struct mlxn_errbuf { char msg[MLXN_ERRMSG_MAX]; } mlxn_errbuf;
/* Copies the thread's last error into e and returns code (for `return mlxn_errbuf_save(&h->err, st);`). */
mlxn_status mlxn_errbuf_save(mlxn_errbuf *e, mlxn_status code);

/* Log through the installed callback (no-op without one). */
void mlxn_log(mlxn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Propagate a failing status. */
#define MLXN_TRY(expr) do { mlxn_status st__ = (expr); if (st__ != MLXN_OK) return st__; } while (0)
#endif
