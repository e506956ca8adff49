/* Read-only whole-file mappings: the open / stat / mmap sequence the GGUF and safetensors
 * readers share. */
#ifndef MLXN_CORE_MAPFILE_H
#define MLXN_CORE_MAPFILE_H
#include "core/status.h"
#include <stddef.h>

typedef struct mlxn_mapped_file {
    void *map;      /* the whole file, read-only; NULL for an empty file */
    size_t size;    /* bytes */
} mlxn_mapped_file;

/* Maps all of the regular file at path. Messages start "<kind> '<path>': " (or "<path>: " when
 * kind is NULL). NOT_FOUND if path does not exist; IO if it cannot be opened, stat-ed or mapped,
 * is not a regular file, or is too large to map. On failure *out is {NULL, 0}. */
mlxn_status mlxn_file_map(const char *path, const char *kind, mlxn_mapped_file *out);
/* Unmaps m (a no-op for an empty or failed mapping) and clears it. */
void mlxn_file_unmap(mlxn_mapped_file *m);
#endif
