-- Server templates (the reference's "templates"): image, startup with {{VAR}}
-- placeholders, variables with defaults and rules, stop command, config files
-- written at install, default resources. A server made from one keeps a copy of
-- its image and startup (editable per server) and its variables' values.
CREATE TABLE server_templates (
    id                  uuid PRIMARY KEY,
    name                text        NOT NULL UNIQUE,
    description         text,
    docker_image        text        NOT NULL,
    start_command       text        NOT NULL,
    stop_command        text        NOT NULL DEFAULT 'stop',
    environment         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    variables           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    config_files        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    ports               jsonb       NOT NULL DEFAULT '[]'::jsonb,
    resources           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- A template in use cannot be deleted (its servers still need its stop command,
-- config files and variable rules).
ALTER TABLE servers
    ADD COLUMN template_id uuid REFERENCES server_templates (id),
    ADD COLUMN variables   jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX servers_template ON servers (template_id) WHERE template_id IS NOT NULL;
