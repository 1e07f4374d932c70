-- Game servers' databases and the database hosts they live on: administrators
-- manage both ("Administers the platform"); SUPER_ADMIN has them through `*`.
UPDATE roles
SET permissions = ARRAY(
        SELECT DISTINCT p
        FROM unnest(permissions || '{database.*,database_host.*}'::text[]) AS p
        ORDER BY p)
WHERE name = 'ADMINISTRATOR';
