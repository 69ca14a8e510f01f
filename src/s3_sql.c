/*-------------------------------------------------------------------------
 *
 * s3_sql.c
 *	  The superuser's SQL surface of s3.c: claude.s3_put, claude.s3_get,
 *	  claude.s3_list and claude.s3_bucket_region, for tests and for
 *	  looking at what batch mode writes.
 *
 * The SQL script revokes them from PUBLIC; they check superuser() too,
 * since they send the server's credentials to any bucket named.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "s3.h"

PG_FUNCTION_INFO_V1(claude_s3_put_sql);
PG_FUNCTION_INFO_V1(claude_s3_get_sql);
PG_FUNCTION_INFO_V1(claude_s3_list_sql);
PG_FUNCTION_INFO_V1(claude_s3_bucket_region_sql);

static void
require_superuser(const char *function)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", function),
				 errdetail("It signs requests to any bucket with the server's AWS credentials."),
				 errhint("Only a superuser may call it.")));
}

static void
parse_arg(FunctionCallInfo fcinfo, ClaudeS3Uri *uri)
{
	claude_s3_parse_uri(text_to_cstring(PG_GETARG_TEXT_PP(0)), uri);
}

Datum
claude_s3_put_sql(PG_FUNCTION_ARGS)
{
	ClaudeS3Uri uri;
	bytea	   *body = PG_GETARG_BYTEA_PP(1);

	require_superuser("claude.s3_put");
	parse_arg(fcinfo, &uri);
	PG_RETURN_TEXT_P(cstring_to_text(claude_s3_put(&uri, VARDATA_ANY(body),
												   VARSIZE_ANY_EXHDR(body))));
}

Datum
claude_s3_get_sql(PG_FUNCTION_ARGS)
{
	ClaudeS3Uri uri;
	size_t		len;
	char	   *data;
	bytea	   *out;

	require_superuser("claude.s3_get");
	parse_arg(fcinfo, &uri);
	data = claude_s3_get(&uri, &len);
	out = palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(VARDATA(out), data, len);
	PG_RETURN_BYTEA_P(out);
}

Datum
claude_s3_list_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ClaudeS3Uri uri;
	List	   *keys;
	ListCell   *lc;

	require_superuser("claude.s3_list");
	parse_arg(fcinfo, &uri);
	keys = claude_s3_list(&uri);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	foreach(lc, keys)
	{
		Datum		value = CStringGetTextDatum((char *) lfirst(lc));
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

Datum
claude_s3_bucket_region_sql(PG_FUNCTION_ARGS)
{
	ClaudeS3Uri uri;

	require_superuser("claude.s3_bucket_region");
	parse_arg(fcinfo, &uri);
	PG_RETURN_TEXT_P(cstring_to_text(claude_s3_bucket_region(uri.bucket)));
}
