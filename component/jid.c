/* Filled in by issue 2; see jid.h. */
#include "error.h"
