/* term.c - see term.h. The spinner is driven by SIGALRM so that it turns
 * while libcurl blocks, and writes with write(2), which is safe there. */
#include "config.h"

#include "term.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

bool term_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return false;
	const char *t = getenv("TERM");
	if (t && strcmp(t, "dumb") == 0)
		return false;
	return isatty(fileno(f));
}

const char *term_dim(FILE *f)
{
	return term_color(f) ? "\033[2m" : "";
}

const char *term_reset(FILE *f)
{
	return term_color(f) ? "\033[0m" : "";
}

static volatile sig_atomic_t spinner_on;
static volatile sig_atomic_t spinner_frame;
static char spinner_label[128];
static size_t spinner_label_len;
static struct sigaction spinner_old;

static void spinner_tick(int sig)
{
	(void)sig;
	if (!spinner_on)
		return;
	static const char frames[] = "|/-\\";
	char line[160];
	size_t n = 0;
	line[n++] = '\r';
	line[n++] = frames[spinner_frame++ % 4];
	line[n++] = ' ';
	memcpy(line + n, spinner_label, spinner_label_len);
	n += spinner_label_len;
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void term_spinner_start(const char *label)
{
	if (spinner_on || !isatty(STDERR_FILENO) || !term_color(stderr))
		return;
	size_t n = strlen(label);
	if (n > sizeof spinner_label - 1)
		n = sizeof spinner_label - 1;
	memcpy(spinner_label, label, n);
	spinner_label_len = n;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = spinner_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &spinner_old);
	spinner_on = 1;
	spinner_tick(SIGALRM);
	struct itimerval it = {{0, 100000}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

void term_spinner_stop(void)
{
	if (!spinner_on)
		return;
	struct itimerval it;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	spinner_on = 0;
	sigaction(SIGALRM, &spinner_old, NULL);
	/* Erase the spinner's line. */
	ssize_t w = write(STDERR_FILENO, "\r\033[K", 4);
	(void)w;
}
