/* Human output of a server check, shared by calpresence-certs and the troubleshooter. */
#include <string.h>

#include "certs_int.h"

static const char *where_text(enum cert_where w);

static const char *
where_text(enum cert_where w)
{
    switch (w) {
    case CERT_WHERE_PRESENTED:
        return "presented by the server, not in the trust store";
    case CERT_WHERE_PRESENTED_TRUSTED:
        return "presented by the server, trusted";
    case CERT_WHERE_STORE:
        return "not presented, found in the trust store: trusted";
    default:
        return "missing: neither presented nor in the trust store";
    }
}

void
cert_report_print_chain(const struct cert_report *r, FILE *out)
{
    size_t i;

    if (r->host != NULL)
        fprintf(out, "server: %s port %d, expected name %s\n", r->host, r->port, r->name);
    if (r->tls != NULL)
        fprintf(out, "tls: %s\n", r->tls);
    for (i = 0; i < r->n_chain; i++) {
        const struct cert_chain_entry *e = &r->chain[i];

        fprintf(out, "certificate %zu%s: %s\n", i + 1, i == 0 ? " (server)" : "",
                where_text(e->where));
        if (e->where == CERT_WHERE_MISSING)
            fprintf(out, "    subject: %s\n", e->info.subject);
        else
            cert_info_print(&e->info, out);
    }
}

void
cert_report_print_status(const struct cert_report *r, FILE *out)
{
    size_t i;

    for (i = 0; i < r->n_warnings; i++)
        fprintf(out, "warning: %s\n", r->warnings[i]);
    fprintf(out, "status: %s\n", cert_status_token(r->status));
    if (r->reason != NULL)
        fprintf(out, "reason: %s\n", r->reason);
}

bool
cert_report_issuer_missing(const struct cert_report *r)
{
    size_t i;

    for (i = 0; i < r->n_chain; i++)
        if (r->chain[i].where == CERT_WHERE_MISSING)
            return true;
    return false;
}
