/* Error recovery with setjmp/longjmp, the way interpreters and test frameworks do it: a tiny calculator whose
 * parser reports errors by longjmp-ing out of any depth of recursion to the handler of the expression being
 * evaluated. Handlers nest (a stack of jmp_bufs), and `volatile` locals keep their values across the jump. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#define MAX_HANDLERS 8

static jmp_buf *handlers[MAX_HANDLERS];
static int depth;
static char message[96];

static _Noreturn void fail(const char *what, const char *where) {
    snprintf(message, sizeof message, "%s at '%s'", what, *where ? where : "end");
    longjmp(*handlers[depth - 1], 1);
}

static const char *cursor;

static long expression(void);

static long factor(void) {
    while (*cursor == ' ') cursor++;
    if (*cursor == '(') {
        cursor++;
        long value = expression();
        while (*cursor == ' ') cursor++;
        if (*cursor != ')') fail("expected ')'", cursor);
        cursor++;
        return value;
    }
    if (*cursor < '0' || *cursor > '9') fail("expected a number", cursor);
    long value = 0;
    while (*cursor >= '0' && *cursor <= '9') value = value * 10 + (*cursor++ - '0');
    return value;
}

static long term(void) {
    long value = factor();
    for (;;) {
        while (*cursor == ' ') cursor++;
        char op = *cursor;
        if (op != '*' && op != '/') return value;
        cursor++;
        long right = factor();
        if (op == '/' && right == 0) fail("division by zero", cursor);
        value = op == '*' ? value * right : value / right;
    }
}

static long expression(void) {
    long value = term();
    for (;;) {
        while (*cursor == ' ') cursor++;
        char op = *cursor;
        if (op != '+' && op != '-') return value;
        cursor++;
        long right = term();
        value = op == '+' ? value + right : value - right;
    }
}

/* Evaluates `text`; returns 1 and sets *result, or returns 0 after printing the error the parser raised. */
static int evaluate(const char *text, long *result) {
    jmp_buf here;
    handlers[depth++] = &here;
    if (setjmp(here) != 0) {
        depth--;
        printf("  error: %s\n", message);
        return 0;
    }
    cursor = text;
    long value = expression();
    if (*cursor != '\0') fail("unexpected input", cursor);
    depth--;
    *result = value;
    return 1;
}

int main(void) {
    static const char *const inputs[] = {
        "1 + 2 * 3", "(1 + 2) * 3", "10 / (5 - 5)", "((((7))))", "2 * (3 + ", "8 / 2 / 2", "4 $ 4", "100 - 1",
    };
    volatile int failures = 0;  /* changed between setjmp and longjmp in the outer handler below */
    volatile long total = 0;
    jmp_buf outer;
    handlers[depth++] = &outer;
    if (setjmp(outer) == 0) {
        for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
            long value;
            printf("%s\n", inputs[i]);
            if (evaluate(inputs[i], &value)) {
                printf("  = %ld\n", value);
                total += value;
            } else {
                failures++;
            }
        }
        fail("giving up after the last input", "");  /* to the outer handler, past every frame above */
    }
    depth--;
    printf("outer handler: %s\n", message);
    printf("%d of %zu failed; sum of the others: %ld\n", failures, sizeof inputs / sizeof inputs[0], total);
    return failures == 3 ? 0 : 1;
}
