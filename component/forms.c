/* Filled in by issue 2; see forms.h. */
#include "error.h"
