#!/usr/bin/env python3
"""Extracts every code block of Markdown files (the README's examples) for ReadmeExamplesTests.

usage: readme_examples.py FILE.md...   (prints one JSON document on stdout)

Python's standard library only. Each code block is one of:

  shell   fenced ```sh/```bash/```console/```shell, or an indented block (4 spaces) or a fenced
          block without a language that is not one of the kinds below: its commands are run (or
          allow-listed) by the test
  output  an indented block right after a shell block (only prose between) whose first word is
          not a command (not on PATH, not a shell builtin): what that command prints; the test
          checks it against the real output
  yaml    a fenced ```yaml block, or an indented or unlabelled block whose first line (comments
          aside) is a YAML mapping or list item; the shell lines in its `script:`, `before_script:`,
          `after_script:` lists and `run:` values (CI jobs) are extracted as commands too

Fenced blocks of any other language are kept as that kind, with no commands.

A shell block's commands are its logical lines: `\\` continuations joined, whole-line comments
dropped, a trailing ` # comment` kept apart (`comment`) and removed from the command. A
`console` block's `$ ` prompts mark the commands; its other lines are their output (`output`).
"""
import json, os, re, shutil, sys

SHELL_LANGS = {"sh", "bash", "console", "shell", "shell-session", "zsh"}
BUILTINS = {"cd", "export", "echo", "printf", "source", ".", "set", "unset", "test", "[", "eval",
            "exec", "read", "true", "false", "umask", "alias", "type", "command", "for", "if",
            "while", "case", "(", "{", "time", "env"}
YAML_LINE = re.compile(r"^(- )?[A-Za-z_][\w.-]*:(\s|$)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")


def split_comment(line):
    """(command, comment): the first ` #` outside quotes starts a comment."""
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c == "\\":
            i += 1
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
        i += 1
    return line.rstrip(), ""


def shell_commands(lines, first_line, console=False):
    """Logical commands of a shell block: [{line, text, comment}]."""
    out, cur, start, comments = [], [], None, []
    for n, raw in enumerate(lines):
        line = raw.rstrip()
        if console and not cur:
            if not line.startswith("$ "):
                if out and line.strip():
                    out[-1].setdefault("output", []).append(line)  # what the command above prints
                continue
            line = line[2:]
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        text, comment = split_comment(line)
        if comment:
            comments.append(comment)
        if start is None:
            start = first_line + n
        if text.endswith("\\"):
            cur.append(text[:-1].rstrip())
            continue
        cur.append(text.strip() if cur else text.rstrip())
        out.append({"line": start, "text": " ".join(p for p in cur if p), "comment": " ".join(comments)})
        cur, start, comments = [], None, []
    if cur:
        out.append({"line": start, "text": " ".join(cur), "comment": " ".join(comments)})
    return out


def yaml_commands(lines, first_line):
    """Shell lines of CI YAML: items of script/before_script/after_script, and run: values."""
    out, key, key_indent = [], None, -1
    item, item_indent, item_line = None, -1, 0

    def flush():
        nonlocal item
        if item is not None:
            out.append({"line": item_line, "text": item.strip(), "comment": "", "key": key})
        item = None

    for n, raw in enumerate(lines):
        line = raw.rstrip()
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if item is not None and indent > item_indent and not stripped.startswith("- "):
            item += " " + split_comment(stripped)[0]  # a folded plain scalar
            continue
        flush()
        m = re.match(r"^(- )?(script|before_script|after_script):\s*$", stripped)
        if m:
            key, key_indent = m.group(2), indent
            continue
        m = re.match(r"^(- )?run:\s*(.*)$", stripped)
        if m and m.group(2) and m.group(2)[0] not in "|>":
            key = "run"
            item, item_indent, item_line = split_comment(m.group(2))[0], indent, first_line + n
            continue
        if key in ("script", "before_script", "after_script") and indent >= key_indent and stripped.startswith("- ") \
                and not (indent == key_indent and YAML_LINE.match(stripped)):
            item, item_indent, item_line = split_comment(stripped[2:])[0], indent, first_line + n
            continue
        if indent <= key_indent:
            key, key_indent = None, -1
    flush()
    return out


def is_command(word):
    if "=" in word and re.match(r"^[A-Za-z_]\w*=", word):
        return True  # VAR=value cmd
    return word in BUILTINS or word == "apkit" or "/" in word or shutil.which(word) is not None


def classify(body, first_line, after_shell):
    """(kind, commands) of an indented or unlabelled fenced block."""
    first = next((l.strip() for l in body if l.strip() and not l.strip().startswith("#")), None)
    if first is None:
        return "shell", []
    if YAML_LINE.match(first):
        return "yaml", yaml_commands(body, first_line)
    if after_shell and not is_command(first.split()[0]):
        return "output", []
    return "shell", shell_commands(body, first_line)


def blocks_of(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, section, i, prev_blank, in_list = [], "", 0, True, False
    last_shell_index = None  # index in blocks of the last shell block, while only prose follows
    while i < len(lines):
        line = lines[i]
        m = HEADING.match(line)
        if m and not line.startswith("    "):
            if len(m.group(1)) <= 2:
                section = m.group(2)
            last_shell_index, in_list = None, False
            i += 1
            prev_blank = False
            continue
        fence = re.match(r"^(\s{0,3})(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            marker, lang = fence.group(2), fence.group(3).lower()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(marker[:3]):
                j += 1
            body = lines[i + 1:j]
            if lang in SHELL_LANGS:
                kind = "shell"
                cmds = shell_commands(body, i + 2, console=lang == "console")
            elif not lang:
                kind, cmds = classify(body, i + 2, last_shell_index is not None)
            else:
                kind = "yaml" if lang in ("yaml", "yml") else (lang or "text")
                cmds = yaml_commands(body, i + 2) if kind == "yaml" else []
            blocks.append({"file": path, "line": i + 1, "section": section, "kind": kind, "lang": lang,
                           "text": "\n".join(body), "commands": cmds,
                           "follows": last_shell_index if kind == "output" else None})
            last_shell_index = len(blocks) - 1 if kind == "shell" else None
            i, prev_blank, in_list = j + 1, False, False
            continue
        if line.startswith("    ") and prev_blank and not in_list:
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            while j > i and not lines[j - 1].strip():
                j -= 1
            body = [l[4:] for l in lines[i:j]]
            kind, cmds = classify(body, i + 1, last_shell_index is not None)
            blocks.append({"file": path, "line": i + 1, "section": section, "kind": kind, "lang": "",
                           "text": "\n".join(body), "commands": cmds,
                           "follows": last_shell_index if kind == "output" else None})
            last_shell_index = len(blocks) - 1 if kind == "shell" else None
            i, prev_blank = j, False
            continue
        if line.strip():
            if LIST_ITEM.match(line):
                in_list = True
            elif not line.startswith(" ") and prev_blank:
                in_list = False
        prev_blank = not line.strip()
        i += 1
    return blocks


def main(argv):
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    blocks = []
    for path in argv:
        blocks += [dict(b, index=len(blocks) + k) for k, b in enumerate(blocks_of(path))]
        # `follows` is an index into this file's blocks; make it global.
    base = 0
    for path in argv:
        mine = [b for b in blocks if b["file"] == path]
        for b in mine:
            if b.get("follows") is not None:
                b["follows"] += base
        base += len(mine)
    json.dump({"blocks": blocks}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
