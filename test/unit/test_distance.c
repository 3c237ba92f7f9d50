/*
 * test_distance.c - unit test of the distance kernels (src/vector/distance*).
 *
 * Every kernel table that can run on this CPU is checked against the scalar
 * reference on random vectors, on exact known values and on unaligned
 * pointers.  Prints "ok - ..." / "not ok - ..." per check, then
 * "N passed, N failed"; exits non-zero on any failure.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "test_rng.h"
#include "test_report.h"


static const int lengths[] = {0, 1, 3, 7, 15, 17, 31, 784, 1536, 16000};
#define N_LENGTHS ((int) (sizeof(lengths) / sizeof(lengths[0])))



/* Exactly n floats (at least one allocated), so ASan catches overreads. */
static float *
alloc_floats(int n)
{
	float	   *p = malloc(sizeof(float) * (size_t) (n > 0 ? n : 1));

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static void
fill_random(float *v, int n, float scale)
{
	int			i;

	for (i = 0; i < n; i++)
		v[i] = (float) ((rand_unit() * 2.0 - 1.0) * scale);
}

/*
 * got vs ref (the scalar result).  Summation order differs, so allow
 * 1e-4 relative, plus an absolute term for cancellation: rounding error grows
 * like sqrt(n) * eps * sum(|terms|) for random data (mag = sum of |terms|).
 */
static int
close_enough(float got, float ref, double mag, int n)
{
	double		tol = 1e-4 * fabs((double) ref) +
		4.0 * sqrt((double) n + 1.0) * FLT_EPSILON * mag;

	if (isnan(got) || isnan(ref))
		return 0;
	return fabs((double) got - (double) ref) <= tol;
}

static void
check_value(const char *desc, float got, float ref, double mag, int n)
{
	char		details[160];

	snprintf(details, sizeof(details), "(got %.9g, expected %.9g, diff %.3g)",
			 got, ref, fabs((double) got - (double) ref));
	report(close_enough(got, ref, mag, n), desc, details);
}

/* Compare all kernels of k against scalar on a and b (length n). */
static void
compare_kernels(const BrainyKernels *k, const float *a, const float *b,
				int n, const char *what)
{
	const BrainyKernels *s = &brainy_kernels_scalar;
	double		mag_l2 = 0.0,
				mag_l1 = 0.0,
				mag_ab = 0.0,
				mag_aa = 0.0,
				mag_bb = 0.0;
	float		dot,
				na,
				nb,
				rdot,
				rna,
				rnb;
	char		desc[200];
	int			i;

	for (i = 0; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		mag_l2 += d * d;
		mag_l1 += fabs(d);
		mag_ab += fabs((double) a[i] * b[i]);
		mag_aa += (double) a[i] * a[i];
		mag_bb += (double) b[i] * b[i];
	}

#define DESC(kernel) \
	(snprintf(desc, sizeof(desc), "%s %s n=%d %s", k->name, kernel, n, what), desc)

	check_value(DESC("l2_squared"), k->l2_squared(a, b, n),
				s->l2_squared(a, b, n), mag_l2, n);
	check_value(DESC("inner_product"), k->inner_product(a, b, n),
				s->inner_product(a, b, n), mag_ab, n);
	check_value(DESC("l1"), k->l1(a, b, n), s->l1(a, b, n), mag_l1, n);

	k->cosine_parts(a, b, n, &dot, &na, &nb);
	s->cosine_parts(a, b, n, &rdot, &rna, &rnb);
	check_value(DESC("cosine_parts.dot"), dot, rdot, mag_ab, n);
	check_value(DESC("cosine_parts.norm_a"), na, rna, mag_aa, n);
	check_value(DESC("cosine_parts.norm_b"), nb, rnb, mag_bb, n);
#undef DESC
}

static void
test_random(const BrainyKernels *k)
{
	static const float scales[] = {1.0f, 1000.0f};
	int			si,
				li;

	for (si = 0; si < 2; si++)
	{
		for (li = 0; li < N_LENGTHS; li++)
		{
			int			n = lengths[li];
			float	   *a = alloc_floats(n);
			float	   *b = alloc_floats(n);
			float	   *ua = alloc_floats(n + 1);
			float	   *ub = alloc_floats(n + 1);
			char		what[64];

			fill_random(a, n, scales[si]);
			fill_random(b, n, scales[si]);
			snprintf(what, sizeof(what), "random [-%g,%g]",
					 scales[si], scales[si]);
			compare_kernels(k, a, b, n, what);

			/* same data at a + 1: misaligned for every vector width */
			memcpy(ua + 1, a, sizeof(float) * (size_t) n);
			memcpy(ub + 1, b, sizeof(float) * (size_t) n);
			snprintf(what, sizeof(what), "random [-%g,%g] unaligned",
					 scales[si], scales[si]);
			compare_kernels(k, ua + 1, ub + 1, n, what);

			free(a);
			free(b);
			free(ua);
			free(ub);
		}
	}
}

static void
expect_exact(const BrainyKernels *k, const char *kernel, float got,
			 float want)
{
	char		desc[120];
	char		details[120];

	snprintf(desc, sizeof(desc), "%s %s [1,2,3] vs [4,5,6] = %g",
			 k->name, kernel, want);
	snprintf(details, sizeof(details), "(got %.9g)", got);
	report(got == want, desc, details);
}

static void
test_known_values(const BrainyKernels *k)
{
	const float a[3] = {1.0f, 2.0f, 3.0f};
	const float b[3] = {4.0f, 5.0f, 6.0f};
	float		dot,
				na,
				nb;

	expect_exact(k, "l2_squared", k->l2_squared(a, b, 3), 27.0f);
	expect_exact(k, "inner_product", k->inner_product(a, b, 3), 32.0f);
	expect_exact(k, "l1", k->l1(a, b, 3), 9.0f);
	k->cosine_parts(a, b, 3, &dot, &na, &nb);
	expect_exact(k, "cosine_parts.dot", dot, 32.0f);
	expect_exact(k, "cosine_parts.norm_a", na, 14.0f);
	expect_exact(k, "cosine_parts.norm_b", nb, 77.0f);
}

/*
 * Small integer values make every partial sum exact in float, whatever the
 * summation order, so each kernel must return exactly the true sum.  Sweeping
 * n over 0..200 covers every tail length of every unrolled loop; each element
 * position matters, so a dropped or doubled element is caught.
 */
static void
test_exact_integers(const BrainyKernels *k)
{
	const int	max_n = 200;
	float	   *a = alloc_floats(max_n + 1);
	float	   *b = alloc_floats(max_n + 1);
	char		desc[120];
	char		details[200] = "";
	int			bad = 0;
	int			off,
				n,
				i;

	for (i = 0; i <= max_n; i++)
	{
		a[i] = (float) ((i * 7 + 3) % 9 - 4);	/* -4..4 */
		b[i] = (float) ((i * 5 + 1) % 11 - 5);	/* -5..5 */
	}
	for (off = 0; off <= 1 && !bad; off++)
	{
		for (n = 0; n + off <= max_n && !bad; n++)
		{
			const float *x = a + off;
			const float *y = b + off;
			double		l2 = 0,
						ip = 0,
						l1 = 0,
						aa = 0,
						bb = 0;
			float		dot,
						na,
						nb;

			for (i = 0; i < n; i++)
			{
				l2 += (double) (x[i] - y[i]) * (x[i] - y[i]);
				ip += (double) x[i] * y[i];
				l1 += fabs((double) x[i] - y[i]);
				aa += (double) x[i] * x[i];
				bb += (double) y[i] * y[i];
			}
			k->cosine_parts(x, y, n, &dot, &na, &nb);
			if (k->l2_squared(x, y, n) != (float) l2 ||
				k->inner_product(x, y, n) != (float) ip ||
				k->l1(x, y, n) != (float) l1 ||
				dot != (float) ip || na != (float) aa || nb != (float) bb)
			{
				bad = 1;
				snprintf(details, sizeof(details),
						 "(first mismatch at n=%d offset=%d: l2 %g/%g ip %g/%g l1 %g/%g "
						 "norms %g/%g %g/%g)",
						 n, off, k->l2_squared(x, y, n), l2,
						 k->inner_product(x, y, n), ip, k->l1(x, y, n), l1,
						 na, aa, nb, bb);
			}
		}
	}
	snprintf(desc, sizeof(desc),
			 "%s all kernels exact on integer vectors, n=0..%d, aligned and unaligned",
			 k->name, max_n);
	report(!bad, desc, details);
	free(a);
	free(b);
}

/* brainy_kernels() must return a supported table, and honour BRAINY_KERNEL. */
static void
test_dispatch(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	const BrainyKernels *chosen = brainy_kernels();
	const char *force = getenv("BRAINY_KERNEL");
	const BrainyKernels *best = NULL;
	char		desc[160];
	char		details[160];
	int			i;

	report(all[0] == &brainy_kernels_scalar &&
		   brainy_kernels_supported(&brainy_kernels_scalar),
		   "dispatch: scalar is listed first and always supported", "");

	snprintf(desc, sizeof(desc), "dispatch: brainy_kernels() = %s is supported",
			 chosen ? chosen->name : "NULL");
	report(chosen != NULL && brainy_kernels_supported(chosen), desc, "");

	report(brainy_kernels() == chosen, "dispatch: choice is cached", "");

	for (i = 0; all[i] != NULL; i++)
	{
		if (force != NULL && strcmp(force, all[i]->name) == 0 &&
			brainy_kernels_supported(all[i]))
		{
			best = all[i];
			break;
		}
		if (brainy_kernels_supported(all[i]))
			best = all[i];
	}
	snprintf(desc, sizeof(desc),
			 "dispatch: BRAINY_KERNEL=%s selects %s",
			 force ? force : "(unset)", best ? best->name : "NULL");
	snprintf(details, sizeof(details), "(got %s)",
			 chosen ? chosen->name : "NULL");
	report(chosen == best, desc, details);
}

int
main(void)
{
	const BrainyKernels *const *all = brainy_kernels_all();
	int			i;

	test_dispatch();
	for (i = 0; all[i] != NULL; i++)
	{
		const BrainyKernels *k = all[i];

		if (!brainy_kernels_supported(k))
		{
			printf("skip - %s: not supported on this CPU\n", k->name);
			continue;
		}
		test_known_values(k);
		test_exact_integers(k);
		test_random(k);
	}
	return report_summary();
}
