/* rss-at-exit.c - an LD_PRELOAD helper for bench/bench.py: when the
 * process exits, append its memory figures to the file named by
 * $CIS_RSS_OUT, one line:
 *   hwm_kb=N rss_kb=N anon_kb=N file_kb=N heap_kb=N stack_kb=N bss_kb=N
 * anon is private memory (heap, stack, .bss, relocated library data); file
 * is shared library code and data mapped from the page cache, which every
 * process running the same libraries shares.  wait4()'s ru_maxrss is their
 * sum at the peak; for the contenders measured here the peak is at exit
 * (hwm == rss), which this helper lets one check.
 *
 *   cc -shared -fPIC -O2 -o rss-at-exit.so rss-at-exit.c
 *   CIS_RSS_OUT=/tmp/x LD_PRELOAD=./rss-at-exit.so PROGRAM ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

/* Rss of the mappings named [heap], [stack], and of the anonymous mapping
 * right after the executable's own (its .bss). */
static void smaps(long *heap, long *stack, long *bss)
{
	char line[512], exe[400] = "", cur[400] = "", prev[400] = "";
	long rss;
	FILE *f = fopen("/proc/self/smaps", "r");
	*heap = *stack = *bss = 0;
	if (!f)
		return;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && strchr(line, ':')) {
			char *p = strchr(line, '/');
			char *q = strchr(line, '[');
			snprintf(prev, sizeof(prev), "%s", cur);
			if (p)
				snprintf(cur, sizeof(cur), "%s", p);
			else if (q)
				snprintf(cur, sizeof(cur), "%s", q);
			else
				snprintf(cur, sizeof(cur), "anon");
			cur[strcspn(cur, "\n")] = '\0';
			continue;
		}
		if (sscanf(line, "Rss: %ld kB", &rss) != 1)
			continue;
		if (!strcmp(cur, "[heap]"))
			*heap += rss;
		else if (!strcmp(cur, "[stack]"))
			*stack += rss;
		else if (!strcmp(cur, "anon") && exe[0] && !strcmp(prev, exe))
			*bss += rss;
	}
	fclose(f);
}

__attribute__((destructor)) static void at_exit_dump(void)
{
	const char *out = getenv("CIS_RSS_OUT");
	if (!out)
		return;
	long heap, stack, bss;
	smaps(&heap, &stack, &bss);
	FILE *f = fopen(out, "a");
	if (!f)
		return;
	fprintf(f, "hwm_kb=%ld rss_kb=%ld anon_kb=%ld file_kb=%ld heap_kb=%ld stack_kb=%ld bss_kb=%ld\n",
		status_kb("VmHWM"), status_kb("VmRSS"), status_kb("RssAnon"), status_kb("RssFile"), heap, stack,
		bss);
	fclose(f);
}
