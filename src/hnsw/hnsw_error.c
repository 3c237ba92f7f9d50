/*
 * hnsw_error.c - status codes and error reports.
 *
 * Owns the names of the HNSW_E* codes and the one helper every failing path
 * goes through: hnsw_fail() fills the caller's HnswError (when there is
 * one) and returns the code, so error paths read "return hnsw_fail(...)".
 */
#include <stdarg.h>
#include <stdio.h>

#include "hnsw_internal.h"

const char *
hnsw_strerror(int code)
{
	switch (code)
	{
		case HNSW_OK:
			return "success";
		case HNSW_EINVAL:
			return "invalid argument";
		case HNSW_ENOMEM:
			return "out of memory";
		case HNSW_EFULL:
			return "index is full";
		case HNSW_ESOURCE:
			return "storage callback failed";
		case HNSW_ECORRUPT:
			return "index is corrupt";
		case HNSW_ECANCELED:
			return "canceled";
	}
	return "unknown error";
}

int
hnsw_fail(HnswError *err, int code, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

void
hnsw_clear_error(HnswError *err)
{
	if (err != NULL)
	{
		err->code = HNSW_OK;
		err->message[0] = '\0';
	}
}
