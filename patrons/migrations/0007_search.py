"""Patron search: folded names for accent- and case-insensitive search and sorting, and the
indexes the search page uses (patrons.selectors.patron_search).

unaccent() is only STABLE (its dictionary could change), so it cannot feed a stored column
or an index. The functions below declare the folding IMMUTABLE: if the unaccent rules ever
change, rebuild the columns (UPDATE patrons_patron SET first_name = first_name) and REINDEX.
Their bodies name their schema because indexes are also computed under an empty search_path
(autovacuum, pg_restore). concat() is only STABLE too: names are joined with ||.
"""

import datetime

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models

FUNCTIONS = r"""
CREATE FUNCTION public.libstaff_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE FUNCTION public.libstaff_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT translate(lower(public.libstaff_unaccent($1)), '-''’', ' ') $$;

CREATE FUNCTION public.libstaff_search_name(
    first text, middle text, last text, preferred_first text, preferred_last text
) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ' ' || public.libstaff_fold(
        coalesce(first, '') || ' ' || coalesce(middle, '') || ' ' || coalesce(last, '')
        || ' ' || coalesce(preferred_first, '') || ' ' || coalesce(preferred_last, '')
    ) $$;

CREATE FUNCTION public.libstaff_sort_name(
    last text, first text, preferred_last text, preferred_first text
) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT public.libstaff_fold(coalesce(nullif(preferred_last, ''), last, ''))
        || E'\t' || public.libstaff_fold(coalesce(nullif(preferred_first, ''), first, '')) $$;
"""
DROP_FUNCTIONS = """
DROP FUNCTION public.libstaff_sort_name(text, text, text, text);
DROP FUNCTION public.libstaff_search_name(text, text, text, text, text);
DROP FUNCTION public.libstaff_fold(text);
DROP FUNCTION public.libstaff_unaccent(text);
"""


class Migration(migrations.Migration):
    dependencies = [("patrons", "0006_barcode_sequence")]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        migrations.AddField(
            model_name="patron",
            name="search_name",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    "first_name",
                    "middle_name",
                    "last_name",
                    "preferred_first_name",
                    "preferred_last_name",
                    function="libstaff_search_name",
                    output_field=models.TextField(),
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.AddField(
            model_name="patron",
            name="sort_name",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    "last_name",
                    "first_name",
                    "preferred_last_name",
                    "preferred_first_name",
                    function="libstaff_sort_name",
                    output_field=models.TextField(),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass("search_name", name="gin_trgm_ops"),
                name="patron_search_name_trgm",
            ),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(fields=["sort_name", "id"], name="patron_sort_name"),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(fields=["home_site", "sort_name", "id"], name="patron_site_sort"),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(
                django.db.models.functions.text.Lower("email"), name="patron_email_ci"
            ),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(
                models.ExpressionWrapper(
                    models.Q(("barcode__isnull", True)), output_field=models.BooleanField()
                ),
                django.db.models.functions.comparison.Coalesce("barcode", models.Value("")),
                models.F("id"),
                name="patron_barcode_sort",
            ),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(
                django.db.models.functions.comparison.Coalesce(
                    "expiry_date", models.Value(datetime.date(9999, 12, 31))
                ),
                models.F("sort_name"),
                models.F("id"),
                name="patron_expiry_sort",
            ),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(fields=["source"], name="patron_source"),
        ),
        migrations.AddIndex(
            model_name="patron",
            index=models.Index(
                condition=models.Q(("is_generic", True)),
                fields=["sort_name", "id"],
                name="patron_generic_sort",
            ),
        ),
    ]
