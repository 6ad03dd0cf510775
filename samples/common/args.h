/* Argument parsing shared by the programs in apps/ (a second source directory for one program). */
#ifndef ARGS_H
#define ARGS_H

/* Parses a decimal number that fills the whole of text. Returns 0 on success, -1 otherwise. */
int parse_number(const char *text, unsigned long long *out);

#endif
