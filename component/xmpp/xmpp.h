/* Room xmpp/: the XEP-0114 connection, disco/ping/version, subscriptions and presence out.
 * May include: config/, store/, the daemon (daemon.h) and libstrophe; nothing of EWS. */
#ifndef CP_XMPP_H
#define CP_XMPP_H

/* The room's one public header: the other rooms include this, never the files below. */
#include "backoff.h"
#include "conn.h"
#include "guard.h"
#include "own.h"
#include "pep.h"
#include "presence.h"
#include "privilege.h"
#include "roster.h"
#include "seen.h"
#include "service.h"
#include "stanza.h"
#include "xmltext.h"

#endif
