/* The trust store: an OpenSSL hashed directory laid out as `openssl rehash` would lay it out.
 *
 * Each certificate is a regular file `<sha256 hex>.pem`, and a symlink `<subject-hash>.N`
 * points at it; OpenSSL (and libcurl's CAPATH) look certificates up by those names, trying
 * N = 0, 1, ... until one is missing, so the numbering of a hash is kept without holes.
 * Writers take an exclusive flock on DIR/.lock; every file appears by rename, so a reader
 * (the daemon, libcurl) sees either the old or the new state, never a partial file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs_int.h"

#define PATH_LEN 4096

static int lock_dir(const char *dir, bool create, char *err, size_t errlen);
static void unlock_dir(int fd);
static bool hashed_name(const char *name);
static bool file_has_fp(const char *path, const char *fp);
static int find_in_hash(const char *dir, unsigned long hash, const char *fp, int *count);
static bool ca_file_has_fp(const char *ca_file, const char *fp);
static int write_cert_file(const char *dir, X509 *x, const char *fp, char *err, size_t errlen);
static int link_hash(const char *dir, unsigned long hash, int n, const char *target, char *err,
                     size_t errlen);
static void fsync_dir(const char *dir);
static int add_locked(const char *dir, X509 *x, char *err, size_t errlen);
static int remove_one(const char *dir, const char *name, const char *fp, char *err, size_t errlen);
static int list_dir(const char *dir, struct cert_store_entry **out, size_t *n);
static int push_entry(struct cert_store_entry **out, size_t *n, X509 *x, const char *source);
static int cmp_names(const void *a, const void *b);

/* Opens DIR/.lock (creating DIR first when CREATE) and takes an exclusive flock on it.
 * Returns the descriptor to pass to unlock_dir, or negative with ERR. */
static int
lock_dir(const char *dir, bool create, char *err, size_t errlen)
{
    char path[PATH_LEN];
    int fd;

    if (create && mkdir(dir, 0755) < 0 && errno != EEXIST) {
        cert_set_err(err, errlen, "%s: cannot create the trust directory (%m)", dir);
        return CERT_EIO;
    }
    snprintf(path, sizeof(path), "%s/.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cert_set_err(err, errlen, "%s: cannot open the lock file (%m)", path);
        return errno == ENOENT ? CERT_ENOTFOUND : CERT_EIO;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            cert_set_err(err, errlen, "%s: cannot lock (%m)", path);
            close(fd);
            return CERT_EIO;
        }
    }
    return fd;
}

static void
unlock_dir(int fd)
{
    /* Closing the descriptor releases the flock. */
    close(fd);
}

/* True for "<8 hex digits>.<decimal>", the names OpenSSL's directory lookup reads. */
static bool
hashed_name(const char *name)
{
    int i;

    for (i = 0; i < 8; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    if (name[8] != '.' || name[9] == '\0')
        return false;
    for (i = 9; name[i] != '\0'; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

/* True when one certificate of the PEM file PATH has fingerprint FP. */
static bool
file_has_fp(const char *path, const char *fp)
{
    STACK_OF(X509) *certs = cert_read_pem_file(path, NULL, 0);
    char got[96];
    bool found = false;
    int i;

    for (i = 0; certs != NULL && !found && i < sk_X509_num(certs); i++)
        found = cert_fingerprint(sk_X509_value(certs, i), got) == 0 && strcmp(got, fp) == 0;
    sk_X509_pop_free(certs, X509_free);
    return found;
}

/* Looks through DIR/<hash>.0, .1, ... Returns the index holding FP or -1; *COUNT receives the
 * number of consecutive entries. */
static int
find_in_hash(const char *dir, unsigned long hash, const char *fp, int *count)
{
    char path[PATH_LEN];
    struct stat st;
    int found = -1;
    int n;

    for (n = 0;; n++) {
        snprintf(path, sizeof(path), "%s/%08lx.%d", dir, hash, n);
        if (lstat(path, &st) < 0)
            break;
        if (found < 0 && file_has_fp(path, fp))
            found = n;
    }
    *count = n;
    return found;
}

static bool
ca_file_has_fp(const char *ca_file, const char *fp)
{
    return ca_file != NULL && ca_file[0] != '\0' && file_has_fp(ca_file, fp);
}

bool
cert_store_contains(const char *dir, const char *ca_file, X509 *x)
{
    char fp[96];
    int count;

    if (cert_fingerprint(x, fp) != 0)
        return false;
    if (dir != NULL && find_in_hash(dir, X509_subject_name_hash(x), fp, &count) >= 0)
        return true;
    return ca_file_has_fp(ca_file, fp);
}

/* Writes X as DIR/<fp hex>.pem through a synced temporary file and a rename. */
static int
write_cert_file(const char *dir, X509 *x, const char *fp, char *err, size_t errlen)
{
    char tmp[PATH_LEN];
    char path[PATH_LEN];
    char hex[65];
    FILE *f;
    int fd;
    int i;
    int ok;

    for (i = 0; i < 32; i++) {
        hex[2 * i] = (char)(fp[3 * i] | 0x20);
        hex[2 * i + 1] = (char)(fp[3 * i + 1] | 0x20);
    }
    hex[64] = '\0';
    snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, hex);
    fd = mkstemp(tmp);
    if (fd < 0) {
        cert_set_err(err, errlen, "%s: cannot create a file (%m)", dir);
        return CERT_EIO;
    }
    fchmod(fd, 0644);
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        cert_set_err(err, errlen, "%s: cannot write (%m)", tmp);
        return CERT_EIO;
    }
    ok = PEM_write_X509(f, x) && fflush(f) == 0 && fsync(fd) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0) {
        cert_set_err(err, errlen, "%s: cannot write (%m)", path);
        unlink(tmp);
        return CERT_EIO;
    }
    return 0;
}

/* Creates the symlink DIR/<hash>.N -> TARGET (a name in DIR) atomically. */
static int
link_hash(const char *dir, unsigned long hash, int n, const char *target, char *err, size_t errlen)
{
    char tmp[PATH_LEN];
    char path[PATH_LEN];

    snprintf(tmp, sizeof(tmp), "%s/.tmp-link-%ld", dir, (long)getpid());
    snprintf(path, sizeof(path), "%s/%08lx.%d", dir, hash, n);
    unlink(tmp);
    if (symlink(target, tmp) < 0 || rename(tmp, path) < 0) {
        cert_set_err(err, errlen, "%s: cannot create the link (%m)", path);
        unlink(tmp);
        return CERT_EIO;
    }
    return 0;
}

static void
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int
add_locked(const char *dir, X509 *x, char *err, size_t errlen)
{
    unsigned long hash = X509_subject_name_hash(x);
    char target[80];
    char fp[96];
    int count;
    int rc;
    int i;

    if (cert_fingerprint(x, fp) != 0) {
        cert_set_err(err, errlen, "cannot compute the fingerprint");
        return CERT_EINVAL;
    }
    if (find_in_hash(dir, hash, fp, &count) >= 0) {
        cert_set_err(err, errlen, "already trusted: %s", fp);
        return CERT_EEXIST;
    }
    rc = write_cert_file(dir, x, fp, err, errlen);
    if (rc != 0)
        return rc;
    for (i = 0; i < 32; i++) {
        target[2 * i] = (char)(fp[3 * i] | 0x20);
        target[2 * i + 1] = (char)(fp[3 * i + 1] | 0x20);
    }
    snprintf(target + 64, sizeof(target) - 64, ".pem");
    rc = link_hash(dir, hash, count, target, err, errlen);
    fsync_dir(dir);
    return rc;
}

int
cert_store_add_x509(const char *dir, X509 *x, unsigned flags, char *err, size_t errlen)
{
    int lock;
    int rc;

    if (dir == NULL || dir[0] == '\0') {
        cert_set_err(err, errlen, "no trust_dir configured");
        return CERT_EINVAL;
    }
    if (!(flags & CERT_ADD_ALLOW_LEAF) && X509_check_ca(x) == 0) {
        cert_set_err(err, errlen,
                     "not a CA certificate: refusing it as a trust anchor (a server "
                     "certificate is trusted through its issuer; force with --leaf)");
        return CERT_EINVAL;
    }
    lock = lock_dir(dir, true, err, errlen);
    if (lock < 0)
        return lock;
    rc = add_locked(dir, x, err, errlen);
    unlock_dir(lock);
    return rc;
}

int
cert_store_add_pem(const char *dir, const char *path, unsigned flags, size_t *added, char *err,
                   size_t errlen)
{
    STACK_OF(X509) *certs = cert_read_pem_file(path, err, errlen);
    int rc = 0;
    int i;

    if (added != NULL)
        *added = 0;
    if (certs == NULL)
        return CERT_EINVAL;
    for (i = 0; !(flags & CERT_ADD_ALLOW_LEAF) && i < sk_X509_num(certs); i++) {
        if (X509_check_ca(sk_X509_value(certs, i)) == 0) {
            cert_set_err(err, errlen,
                         "%s: certificate %d is not a CA certificate: refusing it as a trust "
                         "anchor (force with --leaf)",
                         path, i + 1);
            rc = CERT_EINVAL;
        }
    }
    for (i = 0; rc == 0 && i < sk_X509_num(certs); i++) {
        rc = cert_store_add_x509(dir, sk_X509_value(certs, i), flags, err, errlen);
        if (rc == CERT_EEXIST)
            rc = 0;
        else if (rc == 0 && added != NULL)
            (*added)++;
    }
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* Removes the hashed entry DIR/NAME (which holds FP), moving the hash's last entry into its
 * place so that the numbering stays contiguous, then the certificate file it pointed at. */
static int
remove_one(const char *dir, const char *name, const char *fp, char *err, size_t errlen)
{
    char path[PATH_LEN];
    char last[PATH_LEN];
    char target[NAME_MAX + 1];
    char tpath[PATH_LEN + NAME_MAX + 2];
    char hash[9];
    struct stat st;
    ssize_t tlen;
    int n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tlen = readlink(path, target, sizeof(target) - 1);
    target[tlen > 0 ? tlen : 0] = '\0';
    memcpy(hash, name, 8);
    hash[8] = '\0';
    for (n = 0;; n++) {
        snprintf(last, sizeof(last), "%s/%s.%d", dir, hash, n + 1);
        if (lstat(last, &st) < 0)
            break;
    }
    snprintf(last, sizeof(last), "%s/%s.%d", dir, hash, n);
    if (strcmp(last, path) != 0 ? rename(last, path) < 0 : unlink(path) < 0) {
        cert_set_err(err, errlen, "%s: cannot remove (%m)", path);
        return CERT_EIO;
    }
    /* The file the link pointed at, when it is ours (a plain name in DIR) and holds FP. */
    if (tlen > 0 && strchr(target, '/') == NULL) {
        snprintf(tpath, sizeof(tpath), "%s/%s", dir, target);
        if (file_has_fp(tpath, fp))
            unlink(tpath);
    }
    return 0;
}

int
cert_store_remove(const char *dir, const char *ca_file, const char *fp_in, char *err, size_t errlen)
{
    char name[NAME_MAX + 1];
    char path[PATH_LEN];
    char fp[96];
    struct dirent *de;
    bool again = true;
    int removed = 0;
    int lock;
    int rc = 0;
    DIR *d;

    if (cert_fingerprint_normalize(fp_in, fp) != 0) {
        cert_set_err(err, errlen, "not a SHA-256 fingerprint: %s", fp_in);
        return CERT_EINVAL;
    }
    lock = dir != NULL ? lock_dir(dir, false, err, errlen) : CERT_ENOTFOUND;
    if (lock < 0 && lock != CERT_ENOTFOUND)
        return lock;
    /* Each removal renames entries, so the scan starts over until nothing matches. */
    while (lock >= 0 && again && rc == 0) {
        again = false;
        d = opendir(dir);
        while (d != NULL && (de = readdir(d)) != NULL) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            if (hashed_name(de->d_name) && file_has_fp(path, fp)) {
                /* hashed_name() bounds the name far below NAME_MAX. */
                memcpy(name, de->d_name, strlen(de->d_name) + 1);
                again = true;
                break;
            }
        }
        if (d != NULL)
            closedir(d);
        if (again) {
            rc = remove_one(dir, name, fp, err, errlen);
            removed += rc == 0;
        }
    }
    if (lock >= 0) {
        fsync_dir(dir);
        unlock_dir(lock);
    }
    if (rc != 0 || removed > 0)
        return rc;
    if (ca_file_has_fp(ca_file, fp))
        cert_set_err(err, errlen, "%s is in ca_file %s, which this tool does not edit", fp,
                     ca_file);
    else
        cert_set_err(err, errlen, "no certificate with fingerprint %s in the trust store", fp);
    return CERT_ENOTFOUND;
}

/* Appends a described copy of X to *OUT. */
static int
push_entry(struct cert_store_entry **out, size_t *n, X509 *x, const char *source)
{
    struct cert_store_entry *grown;
    size_t i;
    char fp[96];

    if (cert_fingerprint(x, fp) != 0)
        return 0;
    for (i = 0; i < *n; i++)
        if (strcmp((*out)[i].info.fingerprint, fp) == 0)
            return 0;
    grown = realloc(*out, (*n + 1) * sizeof(*grown));
    if (grown == NULL)
        return CERT_ENOMEM;
    *out = grown;
    if (cert_info_from_x509(x, &grown[*n].info) != 0)
        return CERT_ENOMEM;
    grown[*n].source = strdup(source);
    if (grown[*n].source == NULL) {
        cert_info_clear(&grown[*n].info);
        return CERT_ENOMEM;
    }
    (*n)++;
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_dir(const char *dir, struct cert_store_entry **out, size_t *n)
{
    char path[PATH_LEN];
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *de;
    int rc = 0;
    size_t i;
    DIR *d = opendir(dir);

    if (d == NULL)
        return errno == ENOENT ? 0 : CERT_EIO;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char **grown;

        if (!hashed_name(de->d_name))
            continue;
        grown = realloc(names, (nnames + 1) * sizeof(*names));
        if (grown == NULL || (grown[nnames] = strdup(de->d_name)) == NULL)
            rc = CERT_ENOMEM;
        if (grown != NULL)
            names = grown;
        nnames += rc == 0;
    }
    closedir(d);
    if (nnames > 1)
        qsort(names, nnames, sizeof(*names), cmp_names);
    for (i = 0; i < nnames; i++) {
        STACK_OF(X509) * certs;
        int j;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        certs = cert_read_pem_file(path, NULL, 0);
        for (j = 0; rc == 0 && certs != NULL && j < sk_X509_num(certs); j++)
            rc = push_entry(out, n, sk_X509_value(certs, j), names[i]);
        sk_X509_pop_free(certs, X509_free);
        free(names[i]);
    }
    free(names);
    return rc;
}

int
cert_store_list(const char *dir, const char *ca_file, struct cert_store_entry **out, size_t *n,
                char *err, size_t errlen)
{
    STACK_OF(X509) *certs = NULL;
    int rc = 0;
    int j;

    *out = NULL;
    *n = 0;
    if (dir != NULL && dir[0] != '\0') {
        rc = list_dir(dir, out, n);
        if (rc == CERT_EIO)
            cert_set_err(err, errlen, "%s: cannot read the trust directory (%m)", dir);
    }
    if (rc == 0 && ca_file != NULL && ca_file[0] != '\0') {
        certs = cert_read_pem_file(ca_file, err, errlen);
        if (certs == NULL)
            rc = CERT_EIO;
    }
    for (j = 0; rc == 0 && certs != NULL && j < sk_X509_num(certs); j++)
        rc = push_entry(out, n, sk_X509_value(certs, j), ca_file);
    sk_X509_pop_free(certs, X509_free);
    if (rc != 0) {
        if (rc == CERT_ENOMEM)
            cert_set_err(err, errlen, "out of memory");
        cert_store_entries_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void
cert_store_entries_free(struct cert_store_entry *entries, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        cert_info_clear(&entries[i].info);
        free(entries[i].source);
    }
    free(entries);
}
