-- gdpr_crm 1.0 — tags: the security label provider "gdpr" (API section 2).
-- Labels live in pg_seclabel; the provider (src/labels.c) validates them.
-- The views below parse the stored labels; the wrappers build label text
-- with quote_ident and run SECURITY LABEL, so the provider checks them too.

-- The parsed form of a stored label (subid 0: table label, else column).
CREATE FUNCTION gdpr._parse_label(rel regclass, subid integer, label text,
                                  OUT purposes text[], OUT category text,
                                  OUT subject_key name, OUT retain_from name,
                                  OUT belongs_to regclass, OUT belongs_to_column name)
    RETURNS record
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'gdpr_parse_label';

-- The column tags and the table label of a relation as the per-backend tag
-- cache has them (a partition reports its partitioned parent's labels).
CREATE FUNCTION gdpr._table_tags(rel regclass)
    RETURNS TABLE(source regclass, column_name name, purposes text[], category text)
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'gdpr_table_tags_sql';
CREATE FUNCTION gdpr._table_label(rel regclass)
    RETURNS TABLE(source regclass, subject_key name, retain_from name,
                  belongs_to regclass, belongs_to_column name)
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'gdpr_table_label_sql';

-- The data category taxonomy.
CREATE FUNCTION gdpr.categories() RETURNS SETOF text
    LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'gdpr_categories_sql';

CREATE VIEW gdpr.column_tags AS
    SELECT s.objoid::regclass AS relation, a.attname AS column_name,
           l.purposes, l.category
      FROM pg_catalog.pg_seclabel s
      JOIN pg_catalog.pg_class c ON c.oid = s.objoid
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = s.objoid AND a.attnum = s.objsubid AND NOT a.attisdropped
     CROSS JOIN LATERAL gdpr._parse_label(s.objoid::regclass, s.objsubid, s.label) l
     WHERE s.provider = 'gdpr'
       AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND s.objsubid > 0
       AND NOT c.relispartition;
COMMENT ON VIEW gdpr.column_tags IS 'Personal columns: their purposes and data category (gdpr labels on columns)';

CREATE VIEW gdpr.table_labels AS
    SELECT s.objoid::regclass AS relation, l.subject_key, l.retain_from,
           l.belongs_to, l.belongs_to_column, s.label
      FROM pg_catalog.pg_seclabel s
      JOIN pg_catalog.pg_class c ON c.oid = s.objoid
     CROSS JOIN LATERAL gdpr._parse_label(s.objoid::regclass, 0, s.label) l
     WHERE s.provider = 'gdpr'
       AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND s.objsubid = 0
       AND NOT c.relispartition;
COMMENT ON VIEW gdpr.table_labels IS 'gdpr labels on tables: SUBJECT KEY, RETAIN FROM, BELONGS TO';

CREATE VIEW gdpr.subject_tables AS
    SELECT relation, subject_key AS key_column, retain_from
      FROM gdpr.table_labels
     WHERE subject_key IS NOT NULL;
COMMENT ON VIEW gdpr.subject_tables IS 'Tables that hold data subjects, with their key and retention column';

GRANT SELECT ON gdpr.column_tags, gdpr.table_labels, gdpr.subject_tables TO PUBLIC;

-- Label text of a table from its parts (identifiers quoted as needed).
CREATE FUNCTION gdpr._table_label_text(subject_key name, retain_from name,
                                       belongs_to regclass, belongs_to_column name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT nullif(concat_ws(' ',
        'SUBJECT KEY (' || quote_ident(subject_key) || ')',
        'RETAIN FROM ' || quote_ident(retain_from),
        (SELECT format('BELONGS TO %I.%I (%I)', n.nspname, c.relname, belongs_to_column)
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = belongs_to)), '')
$$;

-- The current table label of rel, parsed (one row, all NULL when none).
CREATE FUNCTION gdpr._current_table_label(rel regclass,
                                          OUT subject_key name, OUT retain_from name,
                                          OUT belongs_to regclass, OUT belongs_to_column name)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.subject_key, l.retain_from, l.belongs_to, l.belongs_to_column
      FROM (SELECT 1) one
      LEFT JOIN pg_catalog.pg_seclabel s
        ON s.objoid = rel AND s.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND s.objsubid = 0 AND s.provider = 'gdpr'
      LEFT JOIN LATERAL gdpr._parse_label(rel, 0, s.label) l ON true
$$;

-- Wrappers.  SECURITY INVOKER on purpose: SECURITY LABEL checks that the
-- caller owns the table.
CREATE FUNCTION gdpr.tag_column(rel regclass, col name, purposes text[],
                                category text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_label text;
BEGIN
    IF rel IS NULL OR col IS NULL OR purposes IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
            CASE WHEN rel IS NULL THEN 'rel' WHEN col IS NULL THEN 'col' ELSE 'purposes' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cardinality(purposes) = 0 THEN
        RAISE EXCEPTION 'purposes of column %.% must not be empty', rel, quote_ident(col)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'To remove the tag, use gdpr.untag_column(rel, col).';
    END IF;
    IF array_position(purposes, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'purposes of column %.% must not contain NULL', rel, quote_ident(col)
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT 'PURPOSE ' || string_agg(quote_ident(p), ', ' ORDER BY o)
      INTO v_label
      FROM unnest(purposes) WITH ORDINALITY u(p, o);
    IF category IS NOT NULL THEN
        v_label := v_label || ' CATEGORY ' ||
            (SELECT string_agg(quote_ident(part), '.' ORDER BY o)
               FROM unnest(string_to_array(category, '.')) WITH ORDINALITY u(part, o));
    END IF;
    EXECUTE format('SECURITY LABEL FOR gdpr ON COLUMN %s.%I IS %L', rel, col, v_label);
END;
$$;
REVOKE ALL ON FUNCTION gdpr.tag_column(regclass, name, text[], text) FROM PUBLIC;

CREATE FUNCTION gdpr.untag_column(rel regclass, col name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF rel IS NULL OR col IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN rel IS NULL THEN 'rel' ELSE 'col' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    EXECUTE format('SECURITY LABEL FOR gdpr ON COLUMN %s.%I IS NULL', rel, col);
END;
$$;
REVOKE ALL ON FUNCTION gdpr.untag_column(regclass, name) FROM PUBLIC;

CREATE FUNCTION gdpr._set_table_label(rel regclass, label text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF label IS NULL THEN
        EXECUTE format('SECURITY LABEL FOR gdpr ON TABLE %s IS NULL', rel);
    ELSE
        EXECUTE format('SECURITY LABEL FOR gdpr ON TABLE %s IS %L', rel, label);
    END IF;
END;
$$;
-- Executable by PUBLIC: it runs with the caller's rights and SECURITY LABEL
-- itself checks that the caller owns the table, so a table owner granted a
-- wrapper (register_subject_table, ...) can use it.
GRANT EXECUTE ON FUNCTION gdpr._set_table_label(regclass, text) TO PUBLIC;

CREATE FUNCTION gdpr.register_subject_table(rel regclass, key_column name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
BEGIN
    IF rel IS NULL OR key_column IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN rel IS NULL THEN 'rel' ELSE 'key_column' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    cur := gdpr._current_table_label(rel);
    PERFORM gdpr._set_table_label(rel,
        gdpr._table_label_text(key_column, cur.retain_from, cur.belongs_to, cur.belongs_to_column));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.register_subject_table(regclass, name) FROM PUBLIC;

CREATE FUNCTION gdpr.set_retention_column(rel regclass, col name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
BEGIN
    IF rel IS NULL OR col IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN rel IS NULL THEN 'rel' ELSE 'col' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    cur := gdpr._current_table_label(rel);
    PERFORM gdpr._set_table_label(rel,
        gdpr._table_label_text(cur.subject_key, col, cur.belongs_to, cur.belongs_to_column));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.set_retention_column(regclass, name) FROM PUBLIC;

-- Extra: BELONGS TO without writing label text.
CREATE FUNCTION gdpr.set_belongs_to(rel regclass, subject regclass, col name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
BEGIN
    IF rel IS NULL OR subject IS NULL OR col IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
            CASE WHEN rel IS NULL THEN 'rel' WHEN subject IS NULL THEN 'subject' ELSE 'col' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    cur := gdpr._current_table_label(rel);
    PERFORM gdpr._set_table_label(rel,
        gdpr._table_label_text(cur.subject_key, cur.retain_from, subject, col));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.set_belongs_to(regclass, regclass, name) FROM PUBLIC;

-- Extra: remove the table label (SUBJECT KEY, RETAIN FROM, BELONGS TO).
CREATE FUNCTION gdpr.untag_table(rel regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'rel must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM gdpr._set_table_label(rel, NULL);
END;
$$;
REVOKE ALL ON FUNCTION gdpr.untag_table(regclass) FROM PUBLIC;
