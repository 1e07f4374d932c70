-- Panel users are accounts (panel_users.synced from the sync service).

-- The panel users as last announced: what a link needs (email to match, admin
-- flag) and `as_of`, the announcement's time, so an older batch delivered late
-- never overwrites a newer one.
CREATE TABLE panel_identities (
    panel_id   integer     PRIMARY KEY,
    email      text        NOT NULL,
    username   text        NOT NULL,
    first_name text,
    last_name  text,
    root_admin boolean     NOT NULL DEFAULT false,
    as_of      timestamptz NOT NULL
);

-- One account per panel user.
CREATE UNIQUE INDEX users_pterodactyl_id_key ON users (pterodactyl_id)
    WHERE pterodactyl_id IS NOT NULL;

-- The panel user an admin unlinked this account from: the sync does not link
-- them again by email (an admin's link clears it).
ALTER TABLE users ADD COLUMN panel_unlinked_id integer;
