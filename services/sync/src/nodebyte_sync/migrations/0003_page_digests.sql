-- What each panel list page last contributed to the mirror, so a page whose content
-- is unchanged is neither decoded nor written again (see page_digests.py).
CREATE TABLE sync_page_digests (
    step      text    NOT NULL,
    page_key  text    NOT NULL,   -- API, path, query, page number and size
    digest    bytea   NOT NULL,   -- of the page's raw items and the mapping version
    items     integer NOT NULL,
    seen      jsonb   NOT NULL,   -- the mirror ids (and allocation links) the page gave
    PRIMARY KEY (step, page_key)
);

-- A step's digests are trusted only once the run that wrote them finished the step.
CREATE TABLE sync_step_digests (
    step     text    PRIMARY KEY,
    trusted  boolean NOT NULL
);
