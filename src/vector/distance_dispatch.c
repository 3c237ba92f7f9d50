/*
 * distance_dispatch.c - choose the kernel table for the running CPU.
 *
 * A table is usable when the CPU has its instructions AND the OS saves the
 * wider registers on context switch (XCR0, read with XGETBV).  gcc's
 * __builtin_cpu_supports() also looks at XCR0 in recent versions, but we check
 * it ourselves so correctness does not depend on the compiler version.
 *
 * BRAINY_KERNEL=scalar|avx2|avx512 forces a table (for tests and benchmarks);
 * it is ignored if that table cannot run here.
 */
#include <stdlib.h>
#include <string.h>

#include "distance.h"

#if defined(BRAINY_HAVE_X86_KERNELS) && defined(__GNUC__)
#define BRAINY_X86_DETECT 1
#include <cpuid.h>
#endif

static const BrainyKernels *const all_tables[] = {
	&brainy_kernels_scalar,
#ifdef BRAINY_HAVE_X86_KERNELS
	&brainy_kernels_avx2,
	&brainy_kernels_avx512,
#endif
	NULL
};

#ifdef BRAINY_X86_DETECT

#define XCR0_YMM	0x06		/* SSE and AVX state */
#define XCR0_ZMM	0xe6		/* plus opmask, ZMM0-15 upper, ZMM16-31 */

/* Low word of XCR0, or 0 if the OS has not enabled XSAVE/XGETBV. */
static unsigned int
read_xcr0(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return 0;
	if (!(ecx & (1u << 27)))	/* OSXSAVE */
		return 0;
	__asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static int
cpu_has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		(read_xcr0() & XCR0_YMM) == XCR0_YMM;
}

static int
cpu_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") &&
		(read_xcr0() & XCR0_ZMM) == XCR0_ZMM;
}

#endif							/* BRAINY_X86_DETECT */

int
brainy_kernels_supported(const BrainyKernels *k)
{
	if (k == &brainy_kernels_scalar)
		return 1;
#ifdef BRAINY_X86_DETECT
	if (k == &brainy_kernels_avx2)
		return cpu_has_avx2();
	if (k == &brainy_kernels_avx512)
		return cpu_has_avx512();
#endif
	return 0;
}

static const BrainyKernels *
choose_kernels(void)
{
	const char *force = getenv("BRAINY_KERNEL");
	const BrainyKernels *best = &brainy_kernels_scalar;
	int			i;

	for (i = 0; all_tables[i] != NULL; i++)
	{
		if (force != NULL && strcmp(force, all_tables[i]->name) == 0 &&
			brainy_kernels_supported(all_tables[i]))
			return all_tables[i];
	}
	/* all_tables is ordered from worst to best */
	for (i = 0; all_tables[i] != NULL; i++)
	{
		if (brainy_kernels_supported(all_tables[i]))
			best = all_tables[i];
	}
	return best;
}

const BrainyKernels *
brainy_kernels(void)
{
	/*
	 * Benign race: concurrent first callers all compute the same answer.
	 * Relaxed atomics keep the compiler and thread sanitizers honest.
	 */
	static const BrainyKernels *chosen = NULL;
	const BrainyKernels *k = __atomic_load_n(&chosen, __ATOMIC_RELAXED);

	if (k == NULL)
	{
		k = choose_kernels();
		__atomic_store_n(&chosen, k, __ATOMIC_RELAXED);
	}
	return k;
}

const BrainyKernels *const *
brainy_kernels_all(void)
{
	return all_tables;
}
