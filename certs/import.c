/* Import: trusting the CA certificates a server presents that the store lacks. A server
 * certificate (the leaf) becomes an anchor only when the operator asks for it explicitly. */
#include "certs_int.h"

int
cert_import(const struct cert_options *opt, struct cert_report *r, bool allow_leaf,
            bool (*confirm)(void *ud, const struct cert_info *info), void *ud, size_t *added,
            char *err, size_t errlen)
{
    STACK_OF(X509) * presented;
    size_t i;
    int rc = 0;

    *added = 0;
    if (opt->trust_dir == NULL || opt->trust_dir[0] == '\0') {
        cert_set_err(err, errlen, "no trust_dir configured: nowhere to import to");
        return CERT_EINVAL;
    }
    presented = cert_report_presented(r);
    if (presented == NULL) {
        cert_set_err(err, errlen, "out of memory");
        return CERT_ENOMEM;
    }
    for (i = 0; rc == 0 && i < r->n_chain; i++) {
        const struct cert_chain_entry *e = &r->chain[i];
        bool leaf = i == 0;

        if (e->where != CERT_WHERE_PRESENTED || (leaf && !allow_leaf) || (!leaf && !e->info.is_ca))
            continue;
        if (confirm != NULL && !confirm(ud, &e->info))
            continue;
        rc = cert_store_add_x509(opt->trust_dir, e->x509, leaf ? CERT_ADD_ALLOW_LEAF : 0, err,
                                 errlen);
        if (rc == CERT_EEXIST)
            rc = 0;
        else if (rc == 0)
            (*added)++;
    }
    /* The verdict against the updated store, for the same presented chain. */
    if (rc == 0 && *added > 0) {
        rc = cert_report_verify(opt, r, presented, 0);
        if (rc != 0)
            cert_set_err(err, errlen, "out of memory");
    }
    sk_X509_pop_free(presented, X509_free);
    return rc;
}
