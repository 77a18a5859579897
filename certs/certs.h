/* certs/: trust store, chain download, host matching and verification (issue 5). */
#ifndef CP_CERTS_H
#define CP_CERTS_H
#endif
