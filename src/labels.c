/*-------------------------------------------------------------------------
 *
 * labels.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_labels_init(void)
{
}

/* placeholders until the labels capability lands (see tags.h) */
#include "tags.h"

const GdprTableTags *
gdpr_table_tags(Oid relid)
{
	return NULL;
}

const GdprColumnTag *
gdpr_column_tag(const GdprTableTags *tags, AttrNumber attnum)
{
	return NULL;
}

bool
gdpr_column_has_purpose(const GdprColumnTag *tag, const char *purpose)
{
	return false;
}

List *
gdpr_labelled_relations(void)
{
	return NIL;
}
