/* Read-only whole-file mappings (see mapfile.h). */
#define _POSIX_C_SOURCE 200809L   /* mmap, O_CLOEXEC */
#include "core/mapfile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_FAIL(code, fmt, ...)                                                                                   \
    (kind ? mlxn_fail(code, "%s '%s': " fmt, kind, path, __VA_ARGS__) : mlxn_fail(code, "%s: " fmt, path, __VA_ARGS__))

mlxn_status mlxn_file_map(const char *path, const char *kind, mlxn_mapped_file *out) {
    out->map = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return MAP_FAIL(e == ENOENT ? MLXN_ERR_NOT_FOUND : MLXN_ERR_IO, "cannot open: %s", strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return MAP_FAIL(MLXN_ERR_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return MAP_FAIL(MLXN_ERR_IO, "%s", "not a regular file");
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return MAP_FAIL(MLXN_ERR_IO, "%s", "file too large to map");
    }
    if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return MAP_FAIL(MLXN_ERR_IO, "mmap of %lld bytes failed: %s", (long long)sb.st_size, strerror(e));
        }
        out->map = m;
        out->size = (size_t)sb.st_size;
    }
    close(fd);
    return MLXN_OK;
}

void mlxn_file_unmap(mlxn_mapped_file *m) {
    if (m->map) munmap(m->map, m->size);
    m->map = NULL;
    m->size = 0;
}
