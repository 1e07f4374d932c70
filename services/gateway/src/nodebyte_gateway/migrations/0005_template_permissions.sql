-- Server templates (template.read, template.write) are the platform's to administer.
UPDATE roles SET permissions = array_append(permissions, 'template.*')
WHERE name = 'ADMINISTRATOR' AND NOT 'template.*' = ANY (permissions);
