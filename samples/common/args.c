#include <errno.h>
#include <stdlib.h>

#include "args.h"

int parse_number(const char *text, unsigned long long *out) {
    char *end;
    if (text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoull(text, &end, 10);
    return errno == 0 && *end == '\0' ? 0 : -1;
}
