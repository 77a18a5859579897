/* Filled in by issue 2; see log.h. */
#include "error.h"
