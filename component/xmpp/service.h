/* IQs addressed to the component and its calendar JIDs: service discovery (XEP-0030),
 * ping (XEP-0199), version (XEP-0092), ad-hoc commands (routed to adhoc.c), and stanza errors
 * for everything else. */
#ifndef CP_XMPP_SERVICE_H
#define CP_XMPP_SERVICE_H

struct cp_daemon;

/* Registers the IQ, presence and message handlers on the daemon's connection (they persist
 * across reconnects). */
void cp_xmpp_service_register(struct cp_daemon *d);

#endif
