#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include "CPlatform.h"

long apkit_copy_file_range(int fd_in, int fd_out, unsigned long len) {
#ifdef SYS_copy_file_range
    return (long)syscall(SYS_copy_file_range, fd_in, NULL, fd_out, NULL, len, 0u);
#else
    errno = ENOSYS;
    return -1;
#endif
}

long apkit_llistxattr(const char *path, char *list, unsigned long size) {
    return (long)llistxattr(path, list, size);
}

long apkit_lgetxattr(const char *path, const char *name, void *value, unsigned long size) {
    return (long)lgetxattr(path, name, value, size);
}

long apkit_flistxattr(int fd, char *list, unsigned long size) {
    return (long)flistxattr(fd, list, size);
}

long apkit_fgetxattr(int fd, const char *name, void *value, unsigned long size) {
    return (long)fgetxattr(fd, name, value, size);
}
