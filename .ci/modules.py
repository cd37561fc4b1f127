#!/usr/bin/env python3
"""The module map of each crate, and its import cycles.

For every crate under crates/, reads the modules (one per file: lib.rs or
main.rs is the crate root, foo.rs and foo/mod.rs are `foo`), the first line
of each module's `//!` doc, and what each module imports from the others:
every `use crate::…`, `use super::…`, `use self::…` and relative `use child::…`,
and every path written inline as `crate::…`/`super::…`. A path resolves to the
module that defines the item; a `pub use` re-export is followed to where it
points, so a facade (`pub use node::Node` in lib.rs) is not an import.

Prints, per crate, each module with its job and what it imports, then the
cycles: groups of modules that import each other (strongly connected
components), both between files and between top-level modules. Exits 1 when
there is a cycle, so CI can keep imports pointing one way.

    python3 .ci/modules.py [--map] [--crate NAME]
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strip(text):
    """Code without comments and string literals (doc links are not imports)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 10]) and not re.match(r"\w", text[i - 1] if i else " "):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_trees(code):
    """(is_pub, tree) for every `use` item."""
    for m in re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", code):
        yield bool(m.group(1)), m.group(2)


def expand_use(tree):
    """Like `expand`, keeping `as` aliases: returns [(segments, local_name)]."""
    tree = tree.strip()
    out = []

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur.strip():
            parts.append(cur)
        return parts

    def go(prefix, s):
        s = s.strip()
        if not s:
            return
        brace = s.find("{")
        if brace >= 0:
            head = s[:brace]
            inner = s[brace + 1: s.rfind("}")]
            head_parts = [p.strip() for p in head.split("::") if p.strip()]
            for part in split_top(inner):
                go(prefix + head_parts, part)
            return
        m = re.match(r"^(.*?)\s+as\s+(\w+)$", s, re.S)
        path, name = (m.group(1), m.group(2)) if m else (s, None)
        segs = [p.strip() for p in path.split("::") if p.strip()]
        if segs and segs[-1] == "self":
            segs = segs[:-1]
        if name is None and segs:
            name = segs[-1]
        out.append((prefix + segs, name))

    go([], tree)
    return out


class Crate:
    def __init__(self, name, src):
        self.name = name
        self.src = src
        self.modules = {}  # module path (tuple) -> file
        self.docs = {}
        self.code = {}
        self.reexports = defaultdict(dict)  # module -> name -> absolute segments
        self.find_modules()

    def find_modules(self):
        for dirpath, _, files in os.walk(self.src):
            for f in files:
                if not f.endswith(".rs"):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, self.src)
                parts = rel[:-3].split(os.sep)
                if parts in (["lib"], ["main"]):
                    mod = ()
                elif parts[-1] == "mod":
                    mod = tuple(parts[:-1])
                else:
                    mod = tuple(parts)
                if mod == () and parts == ["main"] and () in self.modules:
                    continue
                self.modules[mod] = full
        # Only modules actually declared (a bin's main.rs beside lib.rs is its own crate).
        for mod, full in self.modules.items():
            with open(full, encoding="utf-8") as fh:
                text = fh.read()
            doc = ""
            for line in text.splitlines():
                s = line.strip()
                if s.startswith("//!"):
                    d = s[3:].strip()
                    if d and not d.startswith("#"):
                        doc = d
                        break
                elif s and not s.startswith("//"):
                    break
            self.docs[mod] = doc
            self.code[mod] = strip(text)

    def absolute(self, mod, segs):
        """Absolute segments of a path written in `mod`, or None (another crate)."""
        if not segs:
            return None
        first = segs[0]
        if first == "crate":
            return list(segs[1:])
        if first == "self":
            return list(mod) + list(segs[1:])
        if first == "super":
            base = list(mod)
            rest = list(segs)
            while rest and rest[0] == "super":
                base = base[:-1]
                rest = rest[1:]
            return base + rest
        # A child module of the current module, written relatively.
        if tuple(mod) + (first,) in self.modules:
            return list(mod) + list(segs)
        return None

    def collect_reexports(self):
        for mod, code in self.code.items():
            for is_pub, tree in use_trees(code):
                if not is_pub:
                    continue
                for segs, name in expand_use(tree):
                    target = self.absolute(mod, segs)
                    if target is None or name in (None, "*"):
                        continue
                    self.reexports[mod][name] = target

    def resolve(self, segs, depth=0):
        """The module that defines the item at absolute path `segs`."""
        best = ()
        for i in range(len(segs), -1, -1):
            if tuple(segs[:i]) in self.modules:
                best = tuple(segs[:i])
                rest = segs[i:]
                break
        if rest and depth < 8:
            target = self.reexports.get(best, {}).get(rest[0])
            if target is not None and tuple(target) != tuple(best) + (rest[0],):
                return self.resolve(list(target) + list(rest[1:]), depth + 1)
        return best

    def edges(self):
        self.collect_reexports()
        edges = defaultdict(set)
        for mod, code in self.code.items():
            targets = []
            use_spans = []
            for m in re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", code):
                use_spans.append(m.span())
                is_pub = bool(m.group(1))
                for segs, name in expand_use(m.group(2)):
                    target = self.absolute(mod, segs)
                    if target is None:
                        continue
                    if is_pub:
                        # A re-export is an alias, not an import.
                        continue
                    targets.append(target)
            # Paths written inline, outside `use` items.
            masked = list(code)
            for a, b in use_spans:
                masked[a:b] = " " * (b - a)
            masked = "".join(masked)
            # `super::` inside an inline `mod tests { … }` means this file's module.
            inline = re.search(r"\bmod\s+\w+\s*\{", masked)
            # A child module named relatively (`link::link(…)` in its parent).
            children = [m[-1] for m in self.modules if len(m) == len(mod) + 1 and m[: len(mod)] == tuple(mod)]
            for child in children:
                for m in re.finditer(r"(?<![\w:.])(" + re.escape(child) + r"(?:::\w+)+)", masked):
                    targets.append(list(mod) + m.group(1).split("::"))
            for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", masked):
                segs = m.group(1).split("::")
                here = mod
                if segs[0] == "super" and inline and m.start() > inline.start():
                    segs = ["self"] + segs[1:]
                target = self.absolute(here, segs)
                if target is not None:
                    targets.append(target)
            # `use super::*` inside an inline test module, and the like.
            for target in targets:
                resolved = self.resolve(target)
                if resolved != tuple(mod):
                    edges[tuple(mod)].add(resolved)
        return edges


def sccs(nodes, edges):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def name(mod):
    return "::".join(mod) if mod else "(root)"


def main():
    args = sys.argv[1:]
    show_map = "--map" in args
    only = args[args.index("--crate") + 1] if "--crate" in args else None
    crates_dir = os.path.join(ROOT, "crates")
    failed = False
    for crate in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, crate, "src")
        if not os.path.isdir(src) or (only and crate != only):
            continue
        c = Crate(crate, src)
        edges = c.edges()
        if show_map:
            print(f"## {crate}")
            for mod in sorted(c.modules):
                uses = ", ".join(name(t) for t in sorted(edges.get(mod, ())))
                print(f"- {name(mod)}: {c.docs.get(mod, '')}")
                if uses:
                    print(f"    imports: {uses}")
        file_cycles = sccs(c.modules.keys(), edges)
        top = defaultdict(set)
        for a, targets in edges.items():
            for b in targets:
                ta, tb = a[:1], b[:1]
                if ta != tb:
                    top[ta].add(tb)
        top_cycles = sccs({m[:1] for m in c.modules}, top)
        for kind, cycles in (("modules", file_cycles), ("top-level modules", top_cycles)):
            for cycle in cycles:
                failed = True
                print(f"CYCLE in {crate} ({kind}): " + " <-> ".join(name(m) for m in cycle))
                for a in cycle:
                    targets = edges.get(a, ()) if kind == "modules" else top.get(a, ())
                    back = [name(b) for b in sorted(targets) if b in cycle]
                    if back:
                        print(f"    {name(a)} imports {', '.join(back)}")
        if show_map:
            print()
    if not failed:
        print("no import cycles within any crate")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
