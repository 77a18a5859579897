/* Filled in by issue 2; see adhoc.h. */
#include "error.h"
