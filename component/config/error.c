/* cp_strerror: the English words for the component's error codes (error.h). */
#include "error.h"

const char *
cp_strerror(int err)
{
    switch (err) {
    case CP_OK:
        return "success";
    case CP_ENOMEM:
        return "out of memory";
    case CP_EINVAL:
        return "invalid argument or malformed input";
    case CP_ENOTFOUND:
        return "not found";
    case CP_EIO:
        return "input/output error";
    case CP_EEXIST:
        return "already exists";
    case CP_EPERM:
        return "not permitted";
    case CP_EFULL:
        return "queue or table full";
    default:
        return "unknown error";
    }
}
