"""Tag and folder tools: one tool each, dispatching on `action`."""

from typing import Annotated, Literal, get_args

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from clypt_mcp.backends.base import Backend, BackendProvider
from clypt_mcp.models import (
    Color,
    Folder,
    FolderList,
    FolderName,
    FolderRef,
    Scope,
    Tag,
    TagList,
    TagName,
    ascii_fold,
)
from clypt_mcp.tools.common import tool_errors
from clypt_mcp.tools.shaping import (
    FIELDS_DOC,
    FORMAT_DOC,
    TEXT_CUT,
    Format,
    fit_count,
    list_result,
    object_result,
    partial,
    select,
    shape_items,
)

TagView = partial(Tag)
FolderView = partial(Folder)
TagField = Literal["id", "name", "color", "links", "created_at"]
FolderField = Literal["id", "name", "path", "parent_id", "links", "created_at"]
TAG_FIELDS: tuple[str, ...] = get_args(TagField)
FOLDER_FIELDS: tuple[str, ...] = get_args(FolderField)


class TagResult(BaseModel):
    """`tags` for action=list; `tag` for the others (with only the `fields` asked for)."""

    action: str
    tags: list[TagView] | None  # type: ignore[valid-type]
    tag: TagView | None  # type: ignore[valid-type]


class FolderResult(BaseModel):
    """`folders` (every folder, by path) for action=list; `folder` for the others (with only
    the `fields` asked for)."""

    action: str
    folders: list[FolderView] | None  # type: ignore[valid-type]
    folder: FolderView | None  # type: ignore[valid-type]


def _listing(
    kind: str,
    items: list[BaseModel],
    fields: list[str] | None,
    order: tuple[str, ...],
    fmt: Format,
) -> CallToolResult:
    """action=list as a list result: items with the chosen fields, as JSON lines or a table."""
    rows = shape_items((i.model_dump(mode="json") for i in items), fields, drop=False)
    keep = fit_count(rows)
    header = f"{len(rows)} {kind}"
    if keep < len(rows):
        header = f"the first {keep} of {len(rows)} {kind} (the rest would pass 100 KB)"
        rows = rows[:keep]
    lines = shape_items(rows, None, drop=False, limit=TEXT_CUT)
    columns = list(fields) if fields else list(order)
    structured = {"action": "list", kind: rows, kind.rstrip("s"): None}
    return list_result(structured, lines, columns, header, fmt)


def _one(
    action: str, kind: str, item: BaseModel, fields: list[str] | None, text: str
) -> CallToolResult:
    data = select(item.model_dump(mode="json"), fields)
    return object_result({"action": action, kind + "s": None, kind: data}, text)


def _need(value: str | None, name: str, action: str) -> str:
    if value is None or not value.strip():
        raise ToolError(f"{name}: required when action is '{action}'")
    return value


def _check(model: type[BaseModel], **values: object) -> None:
    model.model_validate(values)  # raises ValidationError, shown field by field


class _TagNameCheck(BaseModel):
    name: TagName | None = None
    new_name: TagName | None = None
    color: Color | None = None


class _FolderNameCheck(BaseModel):
    path: FolderRef | None = None
    new_name: FolderName | None = None
    parent: FolderRef | None = None


def register(mcp: MCPServer, backends: BackendProvider, scopes: frozenset[Scope]) -> None:
    """Add manage_tags and manage_folders, when the scopes allow reading them."""
    if Scope.TAGS_READ in scopes:
        _register_tags(mcp, backends, read_only=Scope.TAGS_WRITE not in scopes)
    if Scope.FOLDERS_READ in scopes:
        _register_folders(mcp, backends, read_only=Scope.FOLDERS_WRITE not in scopes)


def _register_tags(mcp: MCPServer, backends: BackendProvider, read_only: bool) -> None:
    @mcp.tool(
        title="Manage tags",
        annotations=ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=not read_only,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_tags(
        action: Annotated[
            Literal["list", "create", "rename", "delete"],
            Field(description="list: all tags with link counts; create/rename/delete one tag."),
        ],
        name: Annotated[
            TagName | None, Field(description="The tag to create, rename or delete (1-50).")
        ] = None,
        new_name: Annotated[
            TagName | None, Field(description="New name, for rename (1-50).")
        ] = None,
        color: Annotated[
            Color | None, Field(description="Optional color: '#RRGGBB' or a word like 'blue'.")
        ] = None,
        fields: Annotated[
            list[TagField] | None,
            Field(description=FIELDS_DOC.format(item="tag"), min_length=1),
        ] = None,
        format: Annotated[Format, Field(description=FORMAT_DOC)] = "json",
    ) -> Annotated[CallToolResult, TagResult]:
        """List, create, rename or delete tags. Deleting a tag removes it from its links but
        never deletes links. (Links get tags through create_link/update_link too.) For list,
        `fields` keeps only those fields and format='markdown' or 'csv' gives a table; a
        result stays under 100 KB."""
        _check(_TagNameCheck, name=name, new_name=new_name, color=color)
        backend = backends()
        chosen: list[str] | None = list(fields) if fields else None
        if action == "list":
            tags: TagList = await backend.list_tags()
            return _listing("tags", list(tags.tags), chosen, TAG_FIELDS, format)
        target = _need(name, "name", action)
        if action == "create":
            tag = await backend.create_tag(target, color)
            text = f"Created tag '{tag.name}'"
        elif action == "rename":
            tag = await backend.update_tag(target, _need(new_name, "new_name", action), color)
            text = f"Renamed tag '{target}' to '{tag.name}'"
        else:
            tag = await backend.delete_tag(target)
            text = f"Deleted tag '{tag.name}' (its {tag.links} links were kept)"
        return _one(action, "tag", tag, chosen, text)


def _register_folders(mcp: MCPServer, backends: BackendProvider, read_only: bool) -> None:
    @mcp.tool(
        title="Manage folders",
        annotations=ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def manage_folders(
        action: Annotated[
            Literal["list", "create", "rename", "move", "delete"],
            Field(description="list: the folder tree with link counts; the others change one."),
        ],
        path: Annotated[
            str | None,
            Field(
                description="The folder, as a path like 'Marketing/2026' or an id. For "
                "create: the new folder's path (missing parents are created).",
                max_length=600,
            ),
        ] = None,
        new_name: Annotated[
            FolderName | None, Field(description="New name, for rename (1-64).")
        ] = None,
        parent: Annotated[
            str | None,
            Field(
                description="Target parent path or id, for move; omit or '/' for the top.",
                max_length=600,
            ),
        ] = None,
        fields: Annotated[
            list[FolderField] | None,
            Field(description=FIELDS_DOC.format(item="folder"), min_length=1),
        ] = None,
        format: Annotated[Format, Field(description=FORMAT_DOC)] = "json",
    ) -> Annotated[CallToolResult, FolderResult]:
        """List, create, rename, move or delete folders. Folders nest ('Marketing/2026').
        Deleting a folder moves its links and subfolders up to its parent; links are never
        deleted. For list, `fields` keeps only those fields and format='markdown' or 'csv'
        gives a table; a result stays under 100 KB."""
        to_root = parent is not None and parent.strip() in ("", "/")
        _check(_FolderNameCheck, path=path, new_name=new_name, parent=None if to_root else parent)
        backend = backends()
        chosen: list[str] | None = list(fields) if fields else None
        if action == "list":
            tree: FolderList = await backend.list_folders()
            return _listing("folders", list(tree.folders), chosen, FOLDER_FIELDS, format)
        target = _need(path, "path", action).strip("/")
        if action == "create":
            head, _, leaf = target.rpartition("/")
            if head:
                parent_folder = await _ensure_path(backend, head)
                folder = await backend.create_folder(leaf, parent_folder)
            else:
                folder = await backend.create_folder(leaf, None)
            text = f"Created folder '{folder.path}'"
        elif action == "rename":
            folder = await backend.update_folder(target, name=_need(new_name, "new_name", action))
            text = f"Renamed '{target}' to '{folder.path}'"
        elif action == "move":
            folder = await backend.update_folder(
                target, parent=None if to_root else parent, to_root=to_root or parent is None
            )
            text = f"Moved '{target}' to '{folder.path}'"
        else:
            folder = await backend.delete_folder(target)
            text = f"Deleted folder '{folder.path}'; its links and subfolders moved up"
        return _one(action, "folder", folder, chosen, text)


async def _ensure_path(backend: Backend, path: str) -> str:
    """The id of the folder at `path`, creating each missing level."""
    existing = {ascii_fold(f.path): f.id for f in (await backend.list_folders()).folders}
    parent: str | None = None
    built = ""
    for name in path.split("/"):
        built = f"{built}/{name}" if built else name
        parent = existing.get(ascii_fold(built)) or (await backend.create_folder(name, parent)).id
    assert parent is not None
    return parent
