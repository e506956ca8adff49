/* Status strings, the thread-local last-error message, and the log callback. */
#include "core/status.h"
#include <stdio.h>
#include <string.h>

static _Thread_local char tls_error[MLXN_ERRMSG_MAX];

const char *mlxn_status_str(mlxn_status s) {
    switch (s) {
    case MLXN_OK: return "ok";
    case MLXN_ERR_INVALID_ARG: return "invalid argument";
    case MLXN_ERR_IO: return "I/O error";
    case MLXN_ERR_FORMAT: return "malformed file";
    case MLXN_ERR_UNSUPPORTED: return "unsupported";
    case MLXN_ERR_NO_MEMORY: return "out of host memory";
    case MLXN_ERR_DEVICE_MEMORY: return "out of device memory";
    case MLXN_ERR_DEVICE: return "device error";
    case MLXN_ERR_SHAPE: return "shape mismatch";
    case MLXN_ERR_NOT_FOUND: return "not found";
    case MLXN_ERR_TYPE: return "wrong type";
    case MLXN_ERR_CONTEXT_FULL: return "context full";
    case MLXN_ERR_NO_DEVICE: return "no such device";
    }
    return "unknown status";
}

const char *mlxn_last_error(void) { return tls_error; }

mlxn_status mlxn_failv(mlxn_status code, const char *fmt, va_list ap) {
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    mlxn_log(MLXN_LOG_DEBUG, "%s: %s", mlxn_status_str(code), tls_error);
    return code;
}

mlxn_status mlxn_fail(mlxn_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mlxn_failv(code, fmt, ap);
    va_end(ap);
    return code;
}

mlxn_status mlxn_errbuf_save(mlxn_errbuf *e, mlxn_status code) {
    if (e) memcpy(e->msg, tls_error, sizeof e->msg);
    return code;
}

static mlxn_log_fn log_fn;
static void *log_user;
static mlxn_log_level log_max = MLXN_LOG_INFO;

void mlxn_log_set(mlxn_log_fn fn, mlxn_log_level max_level, void *user) {
    log_fn = fn;
    log_max = max_level;
    log_user = user;
}

void mlxn_log(mlxn_log_level level, const char *fmt, ...) {
    if (!log_fn || level > log_max) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}
