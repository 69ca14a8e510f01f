/*-------------------------------------------------------------------------
 *
 * residency.c
 *	  Data residency: the one check every request passes before it leaves
 *	  the backend.
 *
 * claude.residency names a geography.  A request is judged on three
 * things: the region it is sent to (claude.region), the endpoint host
 * (claude.endpoint may name another region's host), and the model id,
 * which decides where Bedrock processes it:
 *   - a base model id ("anthropic.claude-...") is processed in the region;
 *   - a geographic inference profile ("au.anthropic.claude-...") is routed
 *	   within its geography, whatever the region;
 *   - an ARN carries its region (and, for an inference profile, its prefix).
 * What is not understood is refused (fail closed), except under "none".
 *
 * The facts are data, in the tables below, not scattered ifs.  Source:
 * AWS's Bedrock inference-profile documentation ("Supported Regions and
 * models for inference profiles", as of 2026-11) and DESIGN.md §4: au.
 * routes within Sydney and Melbourne; apac. anywhere in Asia-Pacific and
 * even me-central-1, so it is not Australian residency; global. to any
 * commercial region.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "endpoint.h"
#include "residency.h"

typedef struct Geography
{
	const char *name;			/* claude.residency value */
	const char *label;			/* for messages */
	const char *const *regions; /* where its requests may be sent */
	const char *const *prefixes;	/* inference profiles it accepts */
} Geography;

static const char *const au_regions[] = {"ap-southeast-2", "ap-southeast-4", NULL};
static const char *const au_prefixes[] = {"au.", NULL};

static const char *const jp_regions[] = {"ap-northeast-1", "ap-northeast-3", NULL};
static const char *const jp_prefixes[] = {"jp.", NULL};

static const char *const eu_regions[] = {
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
	"eu-west-1", "eu-west-2", "eu-west-3", NULL
};
static const char *const eu_prefixes[] = {"eu.", NULL};

static const char *const us_regions[] = {"us-east-1", "us-east-2", "us-west-1", "us-west-2", NULL};
static const char *const us_prefixes[] = {"us.", NULL};

static const char *const apac_regions[] = {
	"ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-7", NULL
};
/* Australia and Japan are within Asia-Pacific */
static const char *const apac_prefixes[] = {"apac.", "au.", "jp.", NULL};

static const Geography geographies[] = {
	{"au", "Australia", au_regions, au_prefixes},
	{"jp", "Japan", jp_regions, jp_prefixes},
	{"eu", "the European Union", eu_regions, eu_prefixes},
	{"us", "the United States", us_regions, us_prefixes},
	{"apac", "Asia-Pacific", apac_regions, apac_prefixes},
};

/* Where each inference-profile prefix routes requests. */
static const struct
{
	const char *prefix;
	const char *geography;		/* where it routes, as claude_residency_check
								 * and claude.usage.geography say */
	const char *allowed_by;		/* the claude.residency that allows it */
	const char *label;
	const char *routes;
}			profile_prefixes[] =
{
	{"au.", "au", "au", "Australia", "ap-southeast-2 and ap-southeast-4"},
	{"jp.", "jp", "jp", "Japan", "ap-northeast-1 and ap-northeast-3"},
	{"apac.", "apac", "apac", "Asia-Pacific", "Asia-Pacific regions and me-central-1"},
	{"eu.", "eu", "eu", "the European Union", "EU regions"},
	{"us.", "us", "us", "the United States", "us-east-1, us-east-2, us-west-1 and us-west-2"},
	{"us-gov.", "us-gov", "none", "AWS GovCloud (US)", "us-gov-east-1 and us-gov-west-1"},
	{"global.", "global", "none", "any commercial AWS region", "any commercial AWS region worldwide"},
};

/*
 * Model providers on Bedrock: "provider.model" is a base model id,
 * "prefix.provider.model" an inference profile.
 */
static const char *const model_providers[] = {
	"anthropic", "amazon", "meta", "mistral", "cohere", "ai21", "stability",
	"deepseek", "writer", "openai", "qwen", "twelvelabs", "luma", "google",
	"minimax", "moonshot", "nvidia",
};

/* ARN resource types whose region is where the request is processed. */
static const char *const regional_arn_types[] = {
	"foundation-model", "provisioned-model", "custom-model", "custom-model-deployment",
	"imported-model", "application-inference-profile", "inference-profile",
};

/* "none": every region and every prefix (NULL lists match anything). */
static const Geography everywhere = {"none", "anywhere", NULL, NULL};

static bool
in_list(const char *const *list, const char *s)
{
	if (list == NULL)
		return true;
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static const Geography *
find_geography(const char *name)
{
	int			i;

	for (i = 0; i < (int) lengthof(geographies); i++)
		if (strcmp(geographies[i].name, name) == 0)
			return &geographies[i];
	return NULL;
}

bool
claude_residency_known(const char *name)
{
	return name != NULL && (strcmp(name, "none") == 0 || strcmp(name, "region") == 0 ||
							find_geography(name) != NULL);
}

/* The most specific geography a region belongs to, for messages and hints. */
static const Geography *
geography_of_region(const char *region)
{
	int			i;

	for (i = 0; i < (int) lengthof(geographies); i++)
		if (in_list(geographies[i].regions, region))
			return &geographies[i];
	return NULL;
}

static char *
region_list(const char *const *regions)
{
	StringInfoData s;

	initStringInfo(&s);
	for (; *regions; regions++)
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", *regions);
	return s.data;
}

/*
 * The region named by an AWS Bedrock runtime host, or NULL for any other
 * host: bedrock-runtime[-fips].REGION.amazonaws.com[.cn], and VPC
 * interface endpoints *.bedrock-runtime.REGION.vpce.amazonaws.com.
 */
static char *
aws_host_region(const char *host_in)
{
	char	   *host = pstrdup(host_in);
	size_t		len = strlen(host);
	char	   *p;
	char	   *end;
	static const char *const stems[] = {
		"bedrock-runtime.", "bedrock-runtime-fips.", "bedrock-mantle.",
	};
	static const char *const suffixes[] = {
		".amazonaws.com", ".amazonaws.com.cn", ".vpce.amazonaws.com", ".api.aws",
	};
	int			i;

	/* host names are case-insensitive, and may end in a root dot */
	for (p = host; *p; p++)
		*p = pg_tolower((unsigned char) *p);
	if (len > 0 && host[len - 1] == '.')
		host[--len] = '\0';

	p = NULL;
	for (i = 0; i < (int) lengthof(stems) && p == NULL; i++)
	{
		char	   *hit = strstr(host, stems[i]);

		if (hit && (hit == host || hit[-1] == '.'))
			p = hit + strlen(stems[i]);
	}
	if (p == NULL)
		return NULL;
	end = strchr(p, '.');
	if (end == NULL)
		return NULL;
	/* the rest must be exactly an AWS suffix, not merely start with one */
	for (i = 0; i < (int) lengthof(suffixes); i++)
		if (strcmp(end, suffixes[i]) == 0)
			return pnstrdup(p, end - p);
	return NULL;
}

static void
refuse(ClaudeResidencyVerdict *v, const char *geography, const char *hint_geo,
	   const char *fmt,...) pg_attribute_printf(4, 5);

static void
refuse(ClaudeResidencyVerdict *v, const char *geography, const char *hint_geo,
	   const char *fmt,...)
{
	va_list		ap;

	v->allowed = false;
	strlcpy(v->geography, geography, sizeof(v->geography));
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	if (hint_geo && strcmp(hint_geo, "none") != 0)
		snprintf(v->hint, sizeof(v->hint),
				 "A superuser, or a role granted SET ON PARAMETER claude.residency, can allow it with "
				 "claude.residency = '%s' (or 'none').", hint_geo);
	else
		snprintf(v->hint, sizeof(v->hint),
				 "Only claude.residency = 'none' allows it (superuser, or a role granted SET ON PARAMETER claude.residency).");
}

/* Is the region acceptable under residency?  Fills v when not. */
static bool
judge_region(const char *residency, const Geography *geo, const char *region,
			 const char *configured_region, const char *what, ClaudeResidencyVerdict *v)
{
	const Geography *where = geography_of_region(region);

	if (strcmp(residency, "region") == 0)
	{
		if (strcmp(region, configured_region) == 0)
			return true;
		refuse(v, where ? where->name : region, NULL, "%s %s is not claude.region (%s)",
			   what, region, configured_region);
		snprintf(v->hint, sizeof(v->hint),
				 "claude.residency = 'region' allows only claude.region; change claude.region or claude.residency.");
		return false;
	}
	if (in_list(geo->regions, region))
		return true;
	refuse(v, where ? where->name : region, where ? where->name : NULL,
		   "%s %s is in %s, not in %s (%s)", what, region,
		   where ? where->label : "no named geography",
		   geo->label, region_list(geo->regions));
	return false;
}

/* Judge a profile id's prefix ("au.anthropic..." -> "au."). */
static bool
judge_profile(const char *residency, const Geography *geo, const char *model,
			  const char *prefix_end, ClaudeResidencyVerdict *v)
{
	size_t		len = prefix_end - model + 1;	/* including the '.' */
	int			i;

	for (i = 0; i < (int) lengthof(profile_prefixes); i++)
	{
		if (strlen(profile_prefixes[i].prefix) == len &&
			strncmp(model, profile_prefixes[i].prefix, len) == 0)
			break;
	}
	if (i == (int) lengthof(profile_prefixes))
	{
		refuse(v, "unknown", NULL, "inference profile prefix \"%.*s\" of model \"%s\" is not known, "
			   "so where it is processed cannot be told", (int) len, model, model);
		return false;
	}
	snprintf(v->processed_in, sizeof(v->processed_in), "%s", profile_prefixes[i].routes);
	strlcpy(v->geography, profile_prefixes[i].geography, sizeof(v->geography));
	if (strcmp(residency, "region") == 0)
	{
		refuse(v, profile_prefixes[i].geography, profile_prefixes[i].allowed_by,
			   "model \"%s\" is a cross-region inference profile (%s: %s), and claude.residency = 'region' allows none",
			   model, profile_prefixes[i].label, profile_prefixes[i].routes);
		return false;
	}
	if (in_list(geo->prefixes, profile_prefixes[i].prefix))
		return true;
	refuse(v, profile_prefixes[i].geography, profile_prefixes[i].allowed_by,
		   "model \"%s\" is an inference profile routed within %s (%s), not %s",
		   model, profile_prefixes[i].label, profile_prefixes[i].routes, geo->label);
	return false;
}

/*
 * The first geography that holds the region and every destination (the
 * residency that would allow such a profile), or NULL.
 */
static const Geography *
geography_of_routes(const char *region, const ClaudeModelRoutes *routes)
{
	int			g;
	int			i;

	for (g = 0; g < (int) lengthof(geographies); g++)
	{
		bool		all = in_list(geographies[g].regions, region);

		for (i = 0; all && i < routes->n; i++)
			all = in_list(geographies[g].regions, routes->destinations[i]);
		if (all)
			return &geographies[g];
	}
	return NULL;
}

/*
 * An application inference profile by its recorded destinations: allowed
 * when every one is inside the geography (the calling region, already
 * judged, is one of them: a profile routes to its caller's region too).
 */
static bool
judge_routes(const char *residency, const Geography *geo, const char *model,
			 const char *configured_region, const ClaudeModelRoutes *routes,
			 ClaudeResidencyVerdict *v)
{
	StringInfoData all;
	StringInfoData outside;
	const char *outside_geo = NULL;
	const Geography *wider;
	int			i;

	initStringInfo(&all);
	initStringInfo(&outside);
	for (i = 0; i < routes->n; i++)
	{
		const char *r = routes->destinations[i];
		bool		inside = strcmp(residency, "region") == 0 ? strcmp(r, configured_region) == 0 :
			in_list(geo->regions, r);

		appendStringInfo(&all, "%s%s", i ? ", " : "", r);
		if (!inside)
		{
			const Geography *g = geography_of_region(r);

			appendStringInfo(&outside, "%s%s", outside.len ? ", " : "", r);
			if (outside_geo == NULL)
				outside_geo = g ? g->name : r;
		}
	}
	snprintf(v->processed_in, sizeof(v->processed_in), "%s", all.data);
	if (outside.len == 0)
		return true;
	wider = geography_of_routes(configured_region, routes);
	refuse(v, outside_geo, wider ? wider->name : NULL,
		   "application inference profile \"%s\" routes requests to %s "
		   "(claude.models, from GetInferenceProfile); %s %s outside %s", model, all.data,
		   outside.data, strchr(outside.data, ',') ? "are" : "is", geo ? geo->label : configured_region);
	return false;
}

/* arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID */
static bool
judge_arn(const char *residency, const Geography *geo, const char *model,
		  const char *configured_region, const ClaudeModelRoutes *routes,
		  ClaudeResidencyVerdict *v)
{
	char	   *copy = pstrdup(model);
	char	   *fields[6];
	char	   *p = copy;
	char	   *slash;
	int			i;

	for (i = 0; i < 5; i++)
	{
		fields[i] = p;
		p = strchr(p, ':');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	if (i < 5 || strcmp(fields[2], "bedrock") != 0 || fields[3][0] == '\0')
	{
		refuse(v, "unknown", NULL, "\"%s\" is not a Bedrock ARN with a region", model);
		return false;
	}
	fields[5] = p;
	slash = strchr(fields[5], '/');
	if (slash)
		*slash = '\0';

	if (!judge_region(residency, geo, fields[3], configured_region, "the model ARN's region", v))
		return false;

	for (i = 0; i < (int) lengthof(regional_arn_types); i++)
		if (strcmp(fields[5], regional_arn_types[i]) == 0)
			break;
	if (i == (int) lengthof(regional_arn_types))
	{
		refuse(v, "unknown", NULL, "Bedrock resource type \"%s\" in \"%s\" is not known", fields[5], model);
		return false;
	}
	/* an ARN that names no resource cannot be placed: fail closed */
	if (slash == NULL || slash[1] == '\0')
	{
		refuse(v, "unknown", NULL, "ARN \"%s\" names no %s id", model, fields[5]);
		return false;
	}
	snprintf(v->processed_in, sizeof(v->processed_in), "%s", fields[3]);
	{
		const Geography *g = geography_of_region(fields[3]);

		strlcpy(v->geography, g ? g->name : fields[3], sizeof(v->geography));
	}

	/*
	 * A system-defined inference profile routes by its id's geographic
	 * prefix, whatever region its ARN names; without a prefix where it
	 * routes cannot be told.
	 */
	if (strcmp(fields[5], "inference-profile") == 0)
	{
		const char *id = slash + 1;
		const char *dot = strchr(id, '.');

		if (dot == NULL)
		{
			refuse(v, "unknown", NULL, "inference profile \"%s\" in ARN \"%s\" has no geographic "
				   "prefix (au., apac., jp., eu., us., global.), so where it routes requests cannot be told",
				   id, model);
			return false;
		}
		return judge_profile(residency, geo, id, dot, v);
	}
	/*
	 * An application inference profile may be a copy of a cross-region
	 * profile (global., apac., ...): its ARN's region says nothing about
	 * where requests go, so only "none" accepts it.
	 */
	if (strcmp(fields[5], "application-inference-profile") == 0)
	{
		if (routes != NULL && routes->n > 0)
			return judge_routes(residency, geo, model, configured_region, routes, v);
		refuse(v, "unknown", NULL, "application inference profile \"%s\" may copy a cross-region "
			   "profile, and claude.models records no destinations for it, so where it routes "
			   "requests cannot be told", model);
		snprintf(v->hint, sizeof(v->hint),
				 "Run claude_models_refresh() to record where it routes (GetInferenceProfile), "
				 "or claude.residency = 'none'.");
		return false;
	}
	return true;
}

static void
judge(const char *residency, const Geography *geo, const char *region,
	  const char *endpoint_host, const char *model, const ClaudeModelRoutes *routes,
	  ClaudeResidencyVerdict *v)
{
	const char *dot;
	int			i;

	v->allowed = true;
	snprintf(v->processed_in, sizeof(v->processed_in), "%s", region);
	{
		const Geography *g = geography_of_region(region);

		strlcpy(v->geography, g ? g->name : region, sizeof(v->geography));
	}

	/* 1. the endpoint host, when it names an AWS region */
	if (endpoint_host && !claude_host_is_loopback(endpoint_host))
	{
		char	   *host_region = aws_host_region(endpoint_host);

		/*
		 * A host that names no AWS region (an IP address, a proxy, a CNAME)
		 * could forward anywhere: fail closed.
		 */
		if (host_region == NULL)
		{
			refuse(v, "unknown", NULL, "endpoint host \"%s\" is not a Bedrock runtime host "
				   "(bedrock-runtime.REGION.amazonaws.com or a VPC endpoint), so where it sends "
				   "requests cannot be told", endpoint_host);
			snprintf(v->hint, sizeof(v->hint),
					 "Use the regional Bedrock endpoint or a VPC interface endpoint of claude.region, "
					 "or claude.residency = 'none' for a proxy you vouch for.");
			return;
		}
		if (!judge_region(residency, geo, host_region, region, "the endpoint host's region", v))
			return;
		if (strcmp(host_region, region) != 0)
		{
			refuse(v, host_region, NULL, "claude.endpoint names region %s but claude.region is %s",
				   host_region, region);
			snprintf(v->hint, sizeof(v->hint), "Make claude.endpoint and claude.region name the same region.");
			return;
		}
	}

	/* 2. the region */
	if (!judge_region(residency, geo, region, region, "claude.region", v))
		return;

	/* 3. the model */
	if (strncmp(model, "arn:", 4) == 0)
	{
		judge_arn(residency, geo, model, region, routes, v);
		return;
	}
	dot = strchr(model, '.');
	if (dot != NULL)
	{
		bool		base = false;
		bool		profile = false;
		const char *second_dot = strchr(dot + 1, '.');

		for (i = 0; i < (int) lengthof(model_providers); i++)
		{
			size_t		n = strlen(model_providers[i]);

			if ((size_t) (dot - model) == n && strncmp(model, model_providers[i], n) == 0)
				base = true;
			if (second_dot && (size_t) (second_dot - dot - 1) == n &&
				strncmp(dot + 1, model_providers[i], n) == 0)
				profile = true;
		}
		if (profile)
			judge_profile(residency, geo, model, dot, v);
		else if (!base)
			refuse(v, "unknown", NULL, "model \"%s\" is neither a known base model id nor a known "
				   "inference profile, so where it is processed cannot be told", model);
		return;
	}
	refuse(v, "unknown", NULL, "model \"%s\" is not a Bedrock model id, inference profile id or ARN", model);
}

/*
 * Locate the request and judge it.  Under "none" the same judging runs
 * against a geography that contains everything, so the verdict still says
 * where the request goes; only what cannot be placed at all would be
 * refused, and "none" allows even that.
 */
void
claude_residency_judge(const char *residency, const char *region,
					   const char *endpoint_host, const char *model,
					   const ClaudeModelRoutes *routes, ClaudeResidencyVerdict *v)
{
	bool		is_none = strcmp(residency, "none") == 0;
	const Geography *geo = is_none ? &everywhere : find_geography(residency);

	memset(v, 0, sizeof(*v));
	judge(residency, geo, region, endpoint_host, model, routes, v);
	if (!v->allowed && is_none)
	{
		v->allowed = true;
		v->hint[0] = '\0';
	}
	if (v->allowed)
		snprintf(v->reason, sizeof(v->reason), "processed in %s", v->processed_in);
}

/*
 * Judge where data is stored (an S3 bucket's region, s3.c) under residency:
 * the same rules as claude.region's, with "what" naming the place.
 */
void
claude_residency_judge_region(const char *residency, const char *region,
							  const char *configured_region, const char *what,
							  ClaudeResidencyVerdict *v)
{
	bool		is_none = strcmp(residency, "none") == 0;
	const Geography *geo = is_none ? &everywhere : find_geography(residency);
	const Geography *g = geography_of_region(region);

	memset(v, 0, sizeof(*v));
	v->allowed = true;
	snprintf(v->processed_in, sizeof(v->processed_in), "%s", region);
	strlcpy(v->geography, g ? g->name : region, sizeof(v->geography));
	if (!is_none)
		(void) judge_region(residency, geo, region, configured_region, what, v);
	if (v->allowed)
		snprintf(v->reason, sizeof(v->reason), "stored in %s", v->processed_in);
}

const char *
claude_residency_place(const ClaudeResidencyVerdict *v, const char *model)
{
	const Geography *g = find_geography(v->geography);
	int			i;

	if (g)
		return g->label;
	for (i = 0; i < (int) lengthof(profile_prefixes); i++)
		if (strcmp(profile_prefixes[i].geography, v->geography) == 0)
			return profile_prefixes[i].label;
	if (strcmp(v->geography, "unknown") == 0)
		return "a place that cannot be determined";
	return psprintf("region %s", v->geography);
}
