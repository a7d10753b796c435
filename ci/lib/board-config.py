"""Writes a board's tinysrs.toml: the shipped, fully commented config with the values of the
board's [config] table (boards/<board>/board.toml) put in place of the defaults, so that the
installed file keeps every comment and says which values are the board's.

Usage: board-config.py BOARD_TOML COMMON_TOML OUT
Every key in [config] must already be in COMMON_TOML (same table), so that a typo or a key
the shipped config does not document fails the package build. The board's [board] limits
text (what its caps refuse) goes into the file's header comment.
"""
import re
import sys
import tomllib


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise SystemExit(f"unsupported value {v!r}")


def flatten(table, prefix=()):
    """(table path, key) -> value for every leaf of the [config] table."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from flatten(value, prefix + (key,))
        else:
            yield prefix, key, value


def header_path(line):
    m = re.match(r"^\[([^\[\]]+)\]\s*(#.*)?$", line)
    if not m:
        return None
    return tuple(part.strip().strip('"') for part in m.group(1).split("."))


def main():
    board_toml, common_toml, out = sys.argv[1:4]
    board_name = board_toml.rstrip("/").split("/")[-2]
    with open(board_toml, "rb") as f:
        board = tomllib.load(f)
    overrides = board.get("config", {})
    limits = board.get("board", {}).get("limits", "").strip()
    with open(common_toml, encoding="utf-8") as f:
        lines = f.read().split("\n")

    wanted = {(path, key): value for path, key, value in flatten(overrides)}
    done = set()
    section = ()
    result = []
    for line in lines:
        path = header_path(line)
        if path is not None:
            section = path
        m = re.match(r"^([A-Za-z0-9_]+)\s*=\s*(.*)$", line)
        if m and (section, m.group(1)) in wanted:
            key = m.group(1)
            new = toml_value(wanted[(section, key)])
            done.add((section, key))
            if new == m.group(2).strip():
                result.append(line)
                continue
            result.append(f"# {board_name}: {new} (built-in default: {m.group(2).strip()})")
            result.append(f"{key} = {new}")
            continue
        result.append(line)

    missing = [".".join(p + (k,)) for (p, k) in wanted if (p, k) not in done]
    if missing:
        raise SystemExit(
            f"{board_toml}: [config] keys not found in {common_toml}: {', '.join(missing)}"
        )
    text = "\n".join(result)
    header = (
        f"# tinysrs configuration (TOML), for the {board_name} board: the values marked\n"
        f"# \"{board_name}:\" are sized for this board's RAM (boards/{board_name}/board.toml).\n"
    )
    if limits:
        header += "#\n" + "".join(f"# {line}".rstrip() + "\n" for line in limits.split("\n"))
    text = text.replace("# tinysrs configuration (TOML).\n", header, 1)
    merged = tomllib.loads(text)
    for (path, key), value in wanted.items():
        t = merged
        for p in path:
            t = t[p]
        assert t[key] == value, (path, key)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


main()
