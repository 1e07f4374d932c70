-- GitHub repositories ("owner/name") the admin settings list. GitHub names are
-- case-insensitive, so "Owner/Repo" and "owner/repo" are the same repository.
CREATE TABLE github_repos (
    id         uuid PRIMARY KEY,
    repo       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX github_repos_repo_key ON github_repos (lower(repo));
