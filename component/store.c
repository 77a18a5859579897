/* Filled in by issue 2; see store.h. */
#include "error.h"
