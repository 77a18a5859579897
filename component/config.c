/* Filled in by issue 2; see config.h. */
#include "error.h"
