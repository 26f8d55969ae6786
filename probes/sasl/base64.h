/* base64.h - compat: base64 moved to util/base64.h; this forwarding
 * header is removed by the coordinator after merge (RENAMES.sed rewrites
 * the includes). */
#include "util/base64.h"
