/* term.h - terminal output for the CLI: whether colour may be used, a
 * spinner on stderr until the first token, and dim styling. Nothing
 * here writes escape codes unless the stream is a terminal and NO_COLOR is
 * unset. */
#ifndef AROUTER_TERM_H
#define AROUTER_TERM_H

#include <stdbool.h>
#include <stdio.h>

/* True when f is a terminal and NO_COLOR is unset (or empty). */
bool term_color(FILE *f);
/* Starts an animated spinner with a label on stderr if stderr is a
 * terminal; a no-op otherwise. The label is copied. */
void term_spinner_start(const char *label);
/* Stops the spinner and erases its line; safe to call when none runs. */
void term_spinner_stop(void);
/* Escape sequences, or "" when colour is off for f. Static strings. */
const char *term_dim(FILE *f);
const char *term_reset(FILE *f);

#endif
