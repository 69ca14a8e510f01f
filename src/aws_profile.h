/*-------------------------------------------------------------------------
 *
 * aws_profile.h
 *	  Reading a profile from the AWS shared credentials and config files.
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_AWS_PROFILE_H
#define PG_CLAUDE_AWS_PROFILE_H

#include "lib/stringinfo.h"

typedef struct AwsProfileEntry
{
	char	   *key;
	char	   *value;
} AwsProfileEntry;

typedef struct AwsProfile
{
	char	   *name;
	char	   *credentials_path;	/* NULL when no HOME and no variable */
	char	   *config_path;
	bool		in_credentials; /* section found in the credentials file */
	bool		in_config;		/* section found in the config file */
	int			ncred;
	AwsProfileEntry *cred;		/* keys from the credentials file */
	int			nconf;
	AwsProfileEntry *conf;		/* keys from the config file */
} AwsProfile;

/* The profile in effect: claude.profile, then AWS_PROFILE, then "default". */
extern const char *aws_profile_active_name(void);

/* Paths of the two files ($AWS_SHARED_CREDENTIALS_FILE, ~/.aws/...). */
extern char *aws_credentials_file_path(void);
extern char *aws_config_file_path(void);

/*
 * Load a profile from both files.  Unreadable or missing files are noted in
 * why (when not NULL); the profile then simply has no entries from them.
 */
extern AwsProfile *aws_profile_load(const char *name, StringInfo why);

/* Look a key up in one file, or in both (credentials file first). */
extern const char *aws_profile_cred(const AwsProfile *p, const char *key);
extern const char *aws_profile_conf(const AwsProfile *p, const char *key);
extern const char *aws_profile_any(const AwsProfile *p, const char *key);

/* Wipe every value (they may be secrets) and free the profile. */
extern void aws_profile_free(AwsProfile *p);

#endif							/* PG_CLAUDE_AWS_PROFILE_H */
