"""`/api/admin/settings/repos`: the GitHub repositories listed in the admin settings."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.params import JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_gateway import github_repos
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.schemas import GithubRepo, RenameBody, RepoBody

PATH = "/api/admin/settings/repos"


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime
    write = ctx.require(catalogue.ADMIN_WRITE)

    async def audited(conn: Any, request: Request, action: str, repo: str, before: Any) -> None:
        after = None if action == "github_repo.removed" else repo
        await audit.record(
            conn, caller(request), action, ("github_repo", repo), before, after, request
        )

    @get(
        PATH,
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["admin"],
        summary="GitHub repositories",
    )
    async def list_repos() -> Answer[list[GithubRepo]]:
        async with runtime.pool.acquire() as conn:
            rows = await github_repos.list_all(conn)
        return Answer(data=[github_repos.view(row) for row in rows])

    @post(PATH, guards=[write], tags=["admin"], status_code=201, summary="Add a repository")
    async def add_repo(data: JSONBody[RepoBody], request: Request) -> Answer[GithubRepo]:
        repo = github_repos.checked(data.repo)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await github_repos.add(conn, repo, caller(request).label)
            await audited(conn, request, "github_repo.added", repo, None)
        return Answer(data=github_repos.view(row), message="Repository added")

    @put(PATH, guards=[write], tags=["admin"], summary="Rename a repository")
    async def rename_repo(data: JSONBody[RenameBody], request: Request) -> Answer[GithubRepo]:
        old = github_repos.checked(data.oldRepo, "oldRepo")
        new = github_repos.checked(data.repo)
        async with runtime.pool.acquire() as conn, conn.transaction():
            before, after = await github_repos.rename(conn, old, new)
            await audited(conn, request, "github_repo.renamed", new, before["repo"])
        return Answer(data=github_repos.view(after), message="Repository updated")

    @delete(PATH, guards=[write], tags=["admin"], status_code=200, summary="Remove a repository")
    async def remove_repo(
        request: Request,
        data: JSONBody[RepoBody | None] = None,
        repo: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Answer[GithubRepo]:
        """The repository comes in the body (`{"repo"}`) or as `?repo=`."""
        given = data.repo if data is not None else None
        if given is None and repo is None:
            raise ApiError(400, 'Name the repository: {"repo": "owner/name"} or ?repo=')
        name = github_repos.checked(given if given is not None else repo)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await github_repos.remove(conn, name)
            await audited(conn, request, "github_repo.removed", row["repo"], row["repo"])
        return Answer(data=github_repos.view(row), message="Repository removed")

    return [list_repos, add_repo, rename_repo, remove_repo]
