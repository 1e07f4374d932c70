-- Custom roles: admins define roles with permission sets from the catalogue
-- (nodebyte_common.permission_catalogue) beside the built-in ones, which stay
-- as they are. Users keep naming their roles (users.roles); a role also has an
-- id for /api/admin/roles/{id}. Built-in ids derive from the name, so they are
-- the same in every database.
ALTER TABLE roles ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE roles ADD COLUMN is_builtin boolean NOT NULL DEFAULT false;
ALTER TABLE roles ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE roles ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE roles SET is_builtin = true, id = md5('nodebyte-role:' || name)::uuid;
CREATE UNIQUE INDEX roles_id_key ON roles (id);
-- "Support" and "SUPPORT" would read as one role in an admin's list.
CREATE UNIQUE INDEX roles_name_lower_key ON roles (lower(name));

-- Administering the platform includes defining its roles.
UPDATE roles SET permissions = array_append(permissions, 'role.*')
WHERE name = 'ADMINISTRATOR' AND NOT 'role.*' = ANY(permissions);
