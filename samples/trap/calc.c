/* A small calculator: evaluates the integer expression in argv[1] (default "10+(8/(3-3))") by recursive descent.
 * Dividing by zero is a deliberate bug: in wasm, i32.div_s by zero traps ("integer divide by zero"), much as the
 * same code dies of SIGFPE natively. The module ships stripped, yet `scons run-trap` names the functions of the
 * backtrace (evaluate_sum, evaluate_factor, ...) from build/calc.wasm.names. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static const char *cursor;

static int evaluate_sum(void);

static void skip_spaces(void) {
    while (isspace((unsigned char)*cursor)) {
        cursor++;
    }
}

static int evaluate_factor(void) {
    skip_spaces();
    if (*cursor == '(') {
        cursor++;
        int value = evaluate_sum();
        skip_spaces();
        if (*cursor == ')') {
            cursor++;
        }
        return value;
    }
    if (*cursor == '-') {
        cursor++;
        return -evaluate_factor();
    }
    return (int)strtol(cursor, (char **)&cursor, 10);
}

static int evaluate_term(void) {
    int value = evaluate_factor();
    for (;;) {
        skip_spaces();
        char op = *cursor;
        if (op != '*' && op != '/') {
            return value;
        }
        cursor++;
        int right = evaluate_factor();
        value = op == '*' ? value * right : value / right; /* the bug: no check for right == 0 */
    }
}

static int evaluate_sum(void) {
    int value = evaluate_term();
    for (;;) {
        skip_spaces();
        char op = *cursor;
        if (op != '+' && op != '-') {
            return value;
        }
        cursor++;
        int right = evaluate_term();
        value = op == '+' ? value + right : value - right;
    }
}

int main(int argc, char **argv) {
    const char *expression = argc > 1 ? argv[1] : "10+(8/(3-3))";
    cursor = expression;
    printf("%s = ", expression);
    fflush(stdout);
    printf("%d\n", evaluate_sum());
    return 0;
}
