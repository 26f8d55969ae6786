/* fuzz_util.h - small helpers shared by the libFuzzer targets in fuzz/.
 *
 * Every target defines LLVMFuzzerTestOneInput() and nothing else with
 * external linkage, so the same file links against libFuzzer
 * (-fsanitize=fuzzer) or against fuzz/replay.c, a plain main() that runs
 * the inputs named on the command line (for gcc, valgrind, debugging).
 *
 * FUZZ_CHECK() is for the targets' own invariants (a property of the code
 * under test that the input must not be able to break): it prints what
 * broke and aborts, which libFuzzer reports as a crash with the input
 * saved. */
#ifndef CIS_FUZZ_UTIL_H
#define CIS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...) do {                                         \
	if (!(cond)) {                                                     \
		fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, \
			__LINE__, #cond);                                  \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	}                                                                  \
} while (0)

/* 64-bit FNV-1a, for comparing two runs that must agree. */
#define FUZZ_FNV_INIT 0xcbf29ce484222325ull

static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline uint64_t fuzz_fnv_u64(uint64_t h, uint64_t v)
{
	return fuzz_fnv(h, &v, sizeof(v));
}

/* Chunk sizes for feeding a stream: mode 0 everything at once, 1 one byte
 * at a time, 2-6 fixed sizes, 7 pseudo-random 1..seed-derived sizes. */
struct fuzz_chunker {
	unsigned mode;
	uint32_t rnd;
};

static inline void fuzz_chunker_init(struct fuzz_chunker *c, unsigned sel)
{
	c->mode = sel & 7u;
	c->rnd = 0x9e3779b9u ^ (sel * 2654435761u);
}

static inline size_t fuzz_chunk(struct fuzz_chunker *c, size_t left)
{
	static const size_t fixed[] = { 2, 3, 7, 64, 4096 };
	size_t n;

	switch (c->mode) {
	case 0:
		n = left;
		break;
	case 1:
		n = 1;
		break;
	case 7:
		c->rnd = c->rnd * 1103515245u + 12345u;
		n = 1 + (c->rnd >> 16) % 29;
		break;
	default:
		n = fixed[c->mode - 2];
		break;
	}
	return n < left ? n : left;
}

#endif
