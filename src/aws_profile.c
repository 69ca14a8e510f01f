/*-------------------------------------------------------------------------
 *
 * aws_profile.c
 *	  Reading a profile from the AWS shared credentials and config files.
 *
 * The files are INI-like: in the credentials file a section is named by
 * the profile, in the config file it is "[profile NAME]" except for
 * "[default]".  Values may hold secrets, so they are wiped when the profile
 * is freed.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pwd.h>
#include <unistd.h>

#include "storage/fd.h"

#include "aws_profile.h"
#include "aws_util.h"
#include "guc.h"

const char *
aws_profile_active_name(void)
{
	if (claude_profile && claude_profile[0])
		return claude_profile;
	if (claude_getenv("AWS_PROFILE"))
		return claude_getenv("AWS_PROFILE");
	return "default";
}

static const char *
home_directory(void)
{
	const char *home = claude_getenv("HOME");
	struct passwd *pw;

	if (home)
		return home;
	pw = getpwuid(geteuid());
	return pw ? pw->pw_dir : NULL;
}

static char *
shared_file_path(const char *env, const char *leaf)
{
	const char *p = claude_getenv(env);
	const char *home;

	/* botocore expands ~ in these variables (os.path.expanduser) */
	if (p && p[0] == '~' && (p[1] == '/' || p[1] == '\0') && home_directory())
		return psprintf("%s%s", home_directory(), p + 1);
	if (p)
		return pstrdup(p);
	home = home_directory();
	if (home == NULL)
		return NULL;
	return psprintf("%s/.aws/%s", home, leaf);
}

char *
aws_credentials_file_path(void)
{
	return shared_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
}

char *
aws_config_file_path(void)
{
	return shared_file_path("AWS_CONFIG_FILE", "config");
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/*
 * Collect the key = value lines of one section.  Returns false when the
 * file cannot be opened.  Nested (indented) sub-sections such as
 * "s3 =\n  max_concurrent_requests = 10" are skipped: no credential key
 * lives there.
 */
static bool
section_matches(const char *header, const char *section, const char *alias)
{
	return strcmp(header, section) == 0 || (alias != NULL && strcmp(header, alias) == 0);
}

static bool
read_section(const char *path, const char *section, const char *alias, bool *found,
			 AwsProfileEntry **entries, int *nentries, StringInfo why,
			 const char *label)
{
	FILE	   *f;
	char		line[8192];
	bool		in_section = false;
	int			cap = 8;

	*found = false;
	*nentries = 0;
	*entries = palloc0(sizeof(AwsProfileEntry) * cap);
	if (path == NULL)
	{
		if (why)
			appendStringInfo(why, "%s: no HOME directory to look in; ", label);
		return false;
	}
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		if (why)
			appendStringInfo(why, "%s \"%s\": %s; ", label, path,
							 errno == ENOENT ? "no such file" : strerror(errno));
		return false;
	}

	while (fgets(line, sizeof(line), f) != NULL)
	{
		bool		indented = (line[0] == ' ' || line[0] == '\t');
		char	   *s = trim(line);
		char	   *eq;

		if (*s == '#' || *s == ';' || *s == '\0')
			continue;
		if (*s == '[')
		{
			char	   *close = strchr(s, ']');

			if (close)
				*close = '\0';
			in_section = section_matches(trim(s + 1), section, alias);
			if (in_section)
				*found = true;
			continue;
		}
		if (!in_section || indented)
			continue;
		/* "key = value" or "key: value", as Python's configparser reads them */
		eq = strpbrk(s, "=:");
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (*nentries == cap)
		{
			cap *= 2;
			*entries = repalloc(*entries, sizeof(AwsProfileEntry) * cap);
		}
		/* option names are case-insensitive (configparser lower-cases them) */
		{
			char	   *k = pstrdup(trim(s));
			char	   *c;

			for (c = k; *c; c++)
				*c = pg_tolower((unsigned char) *c);
			(*entries)[*nentries].key = k;
		}
		(*entries)[*nentries].value = pstrdup(trim(eq + 1));
		(*nentries)++;
	}
	explicit_bzero(line, sizeof(line));
	FreeFile(f);
	return true;
}

AwsProfile *
aws_profile_load(const char *name, StringInfo why)
{
	AwsProfile *p = palloc0(sizeof(AwsProfile));
	char	   *config_section;

	p->name = pstrdup(name);
	p->credentials_path = aws_credentials_file_path();
	p->config_path = aws_config_file_path();

	read_section(p->credentials_path, name, NULL, &p->in_credentials,
				 &p->cred, &p->ncred, why, "shared credentials file");

	/* the config file names profiles "[profile NAME]"; default may be either */
	config_section = psprintf("profile %s", name);
	read_section(p->config_path, config_section,
				 strcmp(name, "default") == 0 ? "default" : NULL,
				 &p->in_config, &p->conf, &p->nconf, why, "config file");
	pfree(config_section);
	return p;
}

static const char *
lookup(const AwsProfileEntry *entries, int n, const char *key)
{
	int			i;

	/* the last assignment wins, as in botocore's parser */
	for (i = n - 1; i >= 0; i--)
		if (strcmp(entries[i].key, key) == 0)
			return entries[i].value[0] ? entries[i].value : NULL;
	return NULL;
}

const char *
aws_profile_cred(const AwsProfile *p, const char *key)
{
	return lookup(p->cred, p->ncred, key);
}

const char *
aws_profile_conf(const AwsProfile *p, const char *key)
{
	return lookup(p->conf, p->nconf, key);
}

const char *
aws_profile_any(const AwsProfile *p, const char *key)
{
	const char *v = aws_profile_cred(p, key);

	return v ? v : aws_profile_conf(p, key);
}

static void
free_entries(AwsProfileEntry *entries, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		explicit_bzero(entries[i].value, strlen(entries[i].value));
		pfree(entries[i].key);
		pfree(entries[i].value);
	}
	pfree(entries);
}

void
aws_profile_free(AwsProfile *p)
{
	free_entries(p->cred, p->ncred);
	free_entries(p->conf, p->nconf);
	pfree(p);
}
