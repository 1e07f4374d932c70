-- Permission names follow the catalogue (nodebyte_common.permission_catalogue):
-- singular nouns (`server.read`, not `servers.read`), as the routes require them.

-- Stored grants that use a retired plural name are renamed.
CREATE FUNCTION pg_temp.catalogue_names(granted text[]) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(DISTINCT regexp_replace(
               g, '^(server|node|alert|backup|webhook|user|task)s(\.|$)', '\1\2')), '{}')
    FROM unnest(granted) AS g
$$;
UPDATE roles SET permissions = pg_temp.catalogue_names(permissions);
UPDATE api_keys SET scopes = pg_temp.catalogue_names(scopes);

-- The built-in roles grant what their descriptions promise.
UPDATE roles SET description = 'A customer: their own account only', permissions = '{}'
WHERE name = 'MEMBER';
UPDATE roles SET description = 'A partner: their own account only', permissions = '{}'
WHERE name = 'PARTNER';
UPDATE roles SET description = 'A sponsor: their own account only', permissions = '{}'
WHERE name = 'SPONSOR';
UPDATE roles SET description = 'Support staff: read users and servers',
    permissions = '{user.read,server.read,server.logs.read,stats.read}'
WHERE name = 'SUPPORT_TEAM';
UPDATE roles SET description = 'Technical staff: run syncs, read and manage nodes',
    permissions = '{sync.*,node.*,server.read,stats.read}'
WHERE name = 'TECH_TEAM';
UPDATE roles SET description = 'Administers the platform',
    permissions = '{admin.*,user.*,stats.*,sync.*,server.*,backup.*,file.*,node.*,alert.*,'
                  'task.*,scheduler.*,hytale.*,email.*,webhook.*}'
WHERE name = 'ADMINISTRATOR';
UPDATE roles SET description = 'Every permission', permissions = '{*}'
WHERE name = 'SUPER_ADMIN';

-- An API key made by a user (or by a key a user made) is bounded by that
-- user's permissions as they are now; it stops with the user's account.
-- Keys minted with the CLI by an operator have no user creator.
ALTER TABLE api_keys ADD COLUMN creator_user_id uuid REFERENCES users (id) ON DELETE CASCADE;
UPDATE api_keys k SET creator_user_id = u.id
FROM users u WHERE k.created_by = 'user:' || u.email;
