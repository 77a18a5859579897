/* Online backup of the store with sqlite3_backup, stepped by the caller so that a large
 * database never holds the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "store_int.h"

struct cp_store_backup {
    sqlite3 *dest;
    sqlite3_backup *bk;
    char *path; /* owned */
    char *tmp;  /* owned: PATH.tmp while the copy is made */
    bool complete;
};

static void
fail_why(char *why, size_t whylen, const char *what, const char *path, const char *detail)
{
    snprintf(why, whylen, "%s %s: %s", what, path, detail);
}

int
cp_store_backup_begin(struct cp_store *store, const char *path, struct cp_store_backup **out,
                      char *why, size_t whylen)
{
    struct cp_store_backup *b = calloc(1, sizeof(*b));
    if (!b || !(b->path = strdup(path)) || asprintf(&b->tmp, "%s.tmp", path) < 0) {
        if (b)
            free(b->path);
        free(b);
        snprintf(why, whylen, "out of memory");
        return CP_ENOMEM;
    }
    /* Created here, 0600, so the copy of every user's settings is never readable by others
     * (SQLite would create it with the umask's mode). O_EXCL: a leftover PATH.tmp is another
     * backup running or one that died; the operator decides. */
    int fd = open(b->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail_why(why, whylen, "cannot create", b->tmp, strerror(errno));
        free(b->tmp);
        b->tmp = NULL;
        cp_store_backup_free(b);
        return CP_EIO;
    }
    close(fd);
    if (sqlite3_open_v2(b->tmp, &b->dest, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        !(b->bk = sqlite3_backup_init(b->dest, "main", store->db, "main"))) {
        fail_why(why, whylen, "cannot write", b->tmp,
                 b->dest ? sqlite3_errmsg(b->dest) : "out of memory");
        cp_store_backup_free(b);
        return CP_EIO;
    }
    *out = b;
    return 0;
}

int
cp_store_backup_step(struct cp_store_backup *b, int pages, int *done_pages, int *total_pages,
                     char *why, size_t whylen)
{
    int rc = sqlite3_backup_step(b->bk, pages);
    int total = sqlite3_backup_pagecount(b->bk);
    if (done_pages)
        *done_pages = total - sqlite3_backup_remaining(b->bk);
    if (total_pages)
        *total_pages = total;
    /* BUSY and LOCKED: another connection (a second instance, sqlite3 by hand) holds a lock
     * for a moment; the next step tries again. */
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return 1;
    if (rc != SQLITE_DONE) {
        fail_why(why, whylen, "cannot write", b->tmp, sqlite3_errstr(rc));
        return CP_EIO;
    }
    sqlite3_backup_finish(b->bk);
    b->bk = NULL;
    if (sqlite3_close(b->dest) != SQLITE_OK) {
        fail_why(why, whylen, "cannot close", b->tmp, sqlite3_errmsg(b->dest));
        return CP_EIO;
    }
    b->dest = NULL;
    if (rename(b->tmp, b->path) != 0) {
        fail_why(why, whylen, "cannot rename the copy to", b->path, strerror(errno));
        return CP_EIO;
    }
    b->complete = true;
    return 0;
}

void
cp_store_backup_free(struct cp_store_backup *b)
{
    if (!b)
        return;
    if (b->bk)
        sqlite3_backup_finish(b->bk);
    if (b->dest)
        sqlite3_close(b->dest);
    if (b->tmp && !b->complete)
        unlink(b->tmp);
    free(b->tmp);
    free(b->path);
    free(b);
}
