/* Autodiscover (issue 3 item 7): the order of the places asked, and the XML of the two
 * protocols (POX autodiscover.xml, SOAP GetUserSettings). Pure functions; autodiscover.c runs
 * them over the transport. */
#ifndef EWS_AUTODISCOVER_INT_H
#define EWS_AUTODISCOVER_INT_H

#include <stddef.h>

enum ews_ad_kind {
    EWS_AD_POX,      /* POST autodiscover.xml (authenticated) */
    EWS_AD_REDIRECT, /* unauthenticated GET over http, expecting a 302 to an https URL */
    EWS_AD_SOAP,     /* POST GetUserSettings to autodiscover.svc (authenticated) */
};

#define EWS_AD_MAX_STEPS 6
#define EWS_AD_URL_MAX 512

struct ews_ad_step {
    enum ews_ad_kind kind;
    char url[EWS_AD_URL_MAX];
};

/* The places to ask for EMAIL, in order (Microsoft's autodiscover-for-exchange order without
 * the Active Directory SCP and DNS SRV lookups): POX at https://DOMAIN, POX at
 * https://autodiscover.DOMAIN, the http redirect GET at autodiscover.DOMAIN, SOAP at
 * https://DOMAIN and https://autodiscover.DOMAIN. Returns the number of steps written into
 * STEPS (EWS_AD_MAX_STEPS room), or EWS_E_INVAL when EMAIL has no usable domain. */
int ews_ad_steps(const char *email, struct ews_ad_step *steps);

/* The POX request for EMAIL; caller frees. NULL when out of memory. */
char *ews_ad_build_pox(const char *email);

/* The SOAP GetUserSettings request for EMAIL sent to URL; caller frees. */
char *ews_ad_build_soap(const char *email, const char *url);

/* What an autodiscover answer said. */
struct ews_ad_answer {
    char ews_url[EWS_AD_URL_MAX];       /* internal first, else external; "" when none */
    char redirect_addr[EWS_AD_URL_MAX]; /* POX redirectAddr: ask again for this address */
    char redirect_url[EWS_AD_URL_MAX];  /* POX redirectUrl: POST the same request there */
    char error[256];                    /* the server's error message, "" when none */
};

/* Parses a POX (SOAP = 0) or GetUserSettings (SOAP = 1) answer. DTDs are refused, nothing is
 * fetched. Returns 0 (one of the fields of OUT set) or EWS_E_MALFORMED / EWS_E_UNSAFE. */
int ews_ad_parse(const char *body, size_t len, int soap, struct ews_ad_answer *out);

#endif
