#include "ews.h"
