/* Error codes shared by the component's modules: 0 is success, failures are negative. */
#ifndef CP_ERROR_H
#define CP_ERROR_H

enum cp_err {
    CP_OK = 0,
    CP_ENOMEM = -1,    /* allocation failed */
    CP_EINVAL = -2,    /* bad argument or malformed input */
    CP_ENOTFOUND = -3, /* no such user, key, subscriber, ... */
    CP_EIO = -4,       /* file, database or socket error; the log says which */
    CP_EEXIST = -5,    /* already present */
    CP_EPERM = -6,     /* not allowed (file mode, admin right) */
    CP_EFULL = -7,     /* a bounded queue or table is full */
};

/* Returns a static English description of ERR. */
const char *cp_strerror(int err);

#endif
