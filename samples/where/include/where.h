/* __FILE__ seen from a header in another directory. */
#ifndef WHERE_H
#define WHERE_H

static inline const char *where_header(void) {
    return __FILE__;
}

#endif
