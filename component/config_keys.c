/* Filled in by issue 2. */
#include "config.h"
#include "log.h"
