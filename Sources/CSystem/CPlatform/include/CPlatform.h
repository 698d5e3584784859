#ifndef APKIT_CPLATFORM_H
#define APKIT_CPLATFORM_H
#include <sys/types.h>
/* Linux calls that glibc only declares under _GNU_SOURCE. Returns -1 and sets errno on failure
   (ENOSYS where the call does not exist). */
long apkit_copy_file_range(int fd_in, int fd_out, unsigned long len);
/* Extended attributes of a path, not following symlinks (sys/xattr.h). */
long apkit_llistxattr(const char *path, char *list, unsigned long size);
long apkit_lgetxattr(const char *path, const char *name, void *value, unsigned long size);
/* The same for an open file (no path lookup). */
long apkit_flistxattr(int fd, char *list, unsigned long size);
long apkit_fgetxattr(int fd, const char *name, void *value, unsigned long size);
#endif
