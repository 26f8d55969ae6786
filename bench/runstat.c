/* runstat.c - run one command and report what it cost, from wait4().
 *
 *   runstat [-o FILE] [-i FILE] -- COMMAND [ARG...]
 *
 * Prints one line to stderr (or writes it to the file named by -r):
 *   wall_ns=N user_us=N sys_us=N maxrss_kb=N minflt=N status=N
 * The command's stdout goes to -o FILE (default /dev/null) and its stdin
 * comes from -i FILE (default /dev/null).
 *
 * Why C and not Python: Linux carries the pre-exec RSS high-water mark of
 * the forking process over into the child's ru_maxrss (exec_mmap()), so a
 * child forked by a 10 MB Python interpreter never reports less than
 * ~10 MB.  This process is small (about 1 MB), so the child's own peak is
 * what shows.  Wall time runs from just before fork() to wait4()'s
 * return, so it includes fork+exec+dynamic linking, like a monitoring
 * scheduler sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

int main(int argc, char **argv)
{
	const char *out = "/dev/null", *in = "/dev/null", *rep = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
			in = argv[++i];
		} else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
			rep = argv[++i];
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: runstat [-o OUT] [-i IN] [-r REPORT] -- COMMAND [ARG...]\n");
		return 2;
	}
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ifd = open(in, O_RDONLY | O_CLOEXEC);
	if (ofd < 0 || ifd < 0) {
		perror("runstat: open");
		return 2;
	}
	long long t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 2;
	}
	if (pid == 0) {
		dup2(ifd, 0);
		dup2(ofd, 1);
		execvp(argv[i], argv + i);
		fprintf(stderr, "runstat: %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	int status = 0;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runstat: wait4");
			return 2;
		}
	}
	long long t1 = now_ns();
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	FILE *f = rep ? fopen(rep, "w") : stderr;
	if (!f) {
		perror("runstat: report file");
		return 2;
	}
	fprintf(f, "wall_ns=%lld user_us=%lld sys_us=%lld maxrss_kb=%ld minflt=%ld status=%d\n", t1 - t0,
		tv_us(ru.ru_utime), tv_us(ru.ru_stime), ru.ru_maxrss, ru.ru_minflt, code);
	if (f != stderr)
		fclose(f);
	return 0;
}
