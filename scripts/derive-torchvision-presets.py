#!/usr/bin/env python3
"""Re-derive dsmirror's torchvision presets from torchvision's own source (issue: current runtimes).

    npm run derive:torchvision                     # newest torchvision wheel of pip's index + Debian's
    python3 scripts/derive-torchvision-presets.py --version 0.30.0

Writes config/torchvision-source.generated.ts: for each source read (the newest torchvision wheel
that pip's configured index holds, unpacked and never imported, and Debian's python3-torchvision,
the build the e2e tests run), every URL written in torchvision/datasets/*.py and
torchvision/models/**/*.py, the hosts derived from them, and the URL -> md5 pairs torchvision checks
when it downloads. config/presets.ts and config/torchvision-checksums.ts are built from that file;
test/unit/torchvision-presets.test.ts checks every committed URL against the preset, so the tests
never download anything.

Why Python and `ast`: the input is Python source. A regex over it cannot tell a docstring (project
pages, papers) or an error message from a URL that is fetched, nor pair a URL with the md5 passed
next to it; `ast` can, with no dependency beyond the standard library.

How the md5 pairs are found: every call of torchvision's download helpers (download_url,
download_and_extract_archive) is evaluated symbolically with the constants of its module and class
(inherited ones too), the method's local assignments and `self.x = ...` assignments anywhere in the
class. A value the code picks at run time (a split, a year, a loop variable) becomes a choice: the
call is evaluated once per possible key or element, and the same expression gets the same choice
throughout one evaluation, so a URL is never paired with another entry's md5. Calls whose URL or md5
cannot be resolved are listed as `unresolved` in the output for a person to read.
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / 'config' / 'torchvision-source.generated.ts'
DEBIAN_TORCHVISION = Path('/usr/lib/python3/dist-packages/torchvision')
# Where the unpacked wheel is kept, so test/unit/torchvision-presets.test.ts can also scan the real
# source of the current release on a machine that ran this script (it skips otherwise).
UNPACKED_DIR = Path(os.environ.get('DSMIRROR_TORCHVISION_SOURCE_DIR', '/var/tmp/dsmirror-torchvision'))

# Hosts named in code that torchvision never downloads from: kept out of the preset, with the reason
# (written to the output too).
NOT_DOWNLOADED = {
    'serre-lab.clps.brown.edu': 'hmdb51.py data_url/splits: HMDB51 has no download(), the URLs are for the user',
    'www.kaggle.com': 'fer2013.py, lfw.py: text telling the user where to download by hand',
    'github.com': 'models: weight metadata (recipe, license) and error messages, never fetched',
}
# Dict keys of a weight's `meta` whose values are links for people, not downloads.
META_KEYS = {'recipe', 'license', '_docs', 'papers'}
DOWNLOAD_HELPERS = {'download_url': 3, 'download_and_extract_archive': 4}  # name -> md5 position
# torchvision turns a Google Drive link into a request for the file id (0.14: drive.google.com/uc,
# later: gdown), so the URL in the source is never the one fetched: no checksum is keyed by it.
GOOGLE_DRIVE_HOSTS = {'drive.google.com', 'docs.google.com', 'drive.usercontent.google.com'}
MD5_RE = re.compile(r'^[0-9a-f]{32}$')
MAX_WORLDS = 256


class Unknown(Exception):
    """The value depends on something that is not in the source (an argument, I/O)."""


class NeedChoice(Exception):
    def __init__(self, key: str, options: list) -> None:
        super().__init__(key)
        self.key = key
        self.options = options


def is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    return isinstance(parent, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and \
        bool(parent.body) and isinstance(parent.body[0], ast.Expr) and parent.body[0].value is node


def urls_in_code(tree: ast.Module) -> list[tuple[str, int]]:
    """URL literals (and literal prefixes of f-strings) outside docstrings, raises, warnings and meta links."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, parent: ast.AST | None, skip: bool) -> None:
        if isinstance(node, ast.Raise):
            skip = True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ''
            if name in {'warn', 'print'}:
                skip = True
        if isinstance(node, ast.Expr) and is_docstring(node.value, parent):
            return
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in META_KEYS:
                    continue
                if key is not None:
                    visit(key, node, skip)
                visit(value, node, skip)
            return
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            if not skip and isinstance(first, ast.Constant) and isinstance(first.value, str) and re.match(r'https?://', first.value):
                found.append((first.value, node.lineno))
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if not skip:
                for m in re.finditer(r'https?://[^\s"\'<>`]+', node.value):
                    found.append((m.group(0), node.lineno))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, node, skip)

    visit(tree, None, False)
    return found


def key_text(node: ast.AST) -> str:
    """One name for the run-time value of an expression: `self.split`, `self._split` and `split` are one choice."""
    text = ast.unparse(node)
    return re.sub(r'\bself\._?', '', text).lstrip('_')


class Module:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.consts: dict[str, ast.AST] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.consts[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.consts[node.target.id] = node.value
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node

    def mro(self, name: str) -> list[ast.ClassDef]:
        out: list[ast.ClassDef] = []
        cls = self.classes.get(name)
        while cls is not None and cls not in out:
            out.append(cls)
            base = next((b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in self.classes), None)
            cls = self.classes.get(base) if base else None
        return out

    def subclasses_and_self(self, name: str) -> list[str]:
        return [c for c in self.classes if any(k.name == name for k in self.mro(c))]


class Evaluator:
    """Evaluates one download call for one class, under a fixed set of choices."""

    def __init__(self, module: Module, cls: str, func: ast.FunctionDef, call: ast.Call, choices: dict) -> None:
        self.module = module
        self.call = call
        self.mro = module.mro(cls)
        self.func = func
        self.choices = choices
        self.depth = 0

    def choose(self, key: str, options: list):
        if not options:
            raise Unknown(key)
        if key in self.choices:
            return self.choices[key]
        raise NeedChoice(key, options)

    def class_attr(self, name: str) -> ast.AST | tuple:
        for cls in self.mro:
            # Assignments to self.<name> in the class's methods win over the class attribute.
            assigned = []
            for node in ast.walk(cls):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        for i, elt in enumerate(target.elts if isinstance(target, ast.Tuple) else [target]):
                            if isinstance(elt, ast.Attribute) and isinstance(elt.value, ast.Name) and elt.value.id == 'self' and elt.attr == name and node.value is not None:
                                assigned.append((node.value, i if isinstance(target, ast.Tuple) else None))
            if assigned:
                value, index = self.choose(f'assign self.{name}', assigned) if len(assigned) > 1 else assigned[0]
                return (value, index)
            for node in cls.body:
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    return (node.value, None)
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None:
                    return (node.value, None)
        raise Unknown(f'self.{name}')

    def local(self, name: str):
        bindings = []
        for node in ast.walk(self.func):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    elts = target.elts if isinstance(target, ast.Tuple) else [target]
                    for i, elt in enumerate(elts):
                        if isinstance(elt, ast.Name) and elt.id == name:
                            bindings.append(('assign', node.value, i if isinstance(target, ast.Tuple) else None))
            elif isinstance(node, ast.For) and node.lineno <= self.call.lineno <= (node.end_lineno or 0):
                # Only a loop around the call binds its variables for it.
                target = node.target
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                for i, elt in enumerate(elts):
                    if isinstance(elt, ast.Name) and elt.id == name:
                        bindings.append(('for', node, i if isinstance(target, ast.Tuple) else None))
        if not bindings:
            return None
        kind, node, index = self.choose(f'local {name}', bindings) if len(bindings) > 1 else bindings[0]
        if kind == 'assign':
            value = self.eval(node)
        else:
            items = self.eval(node.iter)
            items = list(items.items()) if isinstance(items, dict) else list(items)
            value = self.choose(f'loop {ast.unparse(node.iter)}@{node.iter.lineno}', items)
        return value if index is None else value[index]

    def eval(self, node: ast.AST):
        key = key_text(node)
        if key in self.choices and not isinstance(node, ast.Constant):
            return self.choices[key]
        self.depth += 1
        try:
            if self.depth > 60:
                raise Unknown('too deep')
            return self._eval(node)
        finally:
            self.depth -= 1

    def _eval(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return ''.join(str(self.eval(v.value)) if isinstance(v, ast.FormattedValue) else str(v.value) for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.eval(node.left) + self.eval(node.right)
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values) if k is not None}
        if isinstance(node, ast.Name):
            value = self.local(node.id)
            if value is not None:
                return value
            if node.id in self.module.consts:
                return self.eval(self.module.consts[node.id])
            raise Unknown(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in {'self', 'cls'} | {c.name for c in self.mro}:
            value, index = self.class_attr(node.attr)
            value = self.eval(value)
            return value if index is None else value[index]
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value)
            try:
                index = self.eval(node.slice)
            except Unknown:
                keys = list(container.keys()) if isinstance(container, dict) else list(range(len(container)))
                index = self.choose(key_text(node.slice), keys)
            return container[index]
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            args = [self.eval(a) for a in node.args]
            if name in {'urljoin', 'urllib.parse.urljoin'}:
                return urllib.parse.urljoin(*args)
            if name in {'os.path.join', 'posixpath.join'}:
                return os.path.join(*args)
            if isinstance(node.func, ast.Attribute) and node.func.attr == 'join' and isinstance(node.func.value, ast.Constant):
                return node.func.value.value.join(args[0])
            raise Unknown(name)
        raise Unknown(ast.unparse(node))


def download_calls(module: Module):
    """(class name, method, call) for every download helper call inside a class, per class that runs it."""
    for cls_name, cls in module.classes.items():
        for func in cls.body:
            if not isinstance(func, ast.FunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and ast.unparse(node.func).split('.')[-1] in DOWNLOAD_HELPERS:
                    for runner in module.subclasses_and_self(cls_name):
                        # The method runs for a subclass unless a class before cls_name in its MRO overrides it.
                        owner = next(k.name for k in module.mro(runner) if any(isinstance(f, ast.FunctionDef) and f.name == func.name for f in k.body))
                        if owner == cls_name:
                            yield runner, func, node


def call_arg(call: ast.Call, name: str, position: int) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def checksums_of(module: Module, file: str):
    pairs: dict[str, tuple[str, str]] = {}
    unresolved: list[str] = []
    for cls, func, call in download_calls(module):
        helper = ast.unparse(call.func).split('.')[-1]
        url_node = call_arg(call, 'url', 0)
        md5_node = call_arg(call, 'md5', DOWNLOAD_HELPERS[helper])
        if url_node is None or md5_node is None or (isinstance(md5_node, ast.Constant) and md5_node.value is None):
            continue
        worlds = [{}]
        done = 0
        while worlds and done < MAX_WORLDS:
            choices = worlds.pop()
            done += 1
            ev = Evaluator(module, cls, func, call, choices)
            # Both are evaluated before giving up: a choice the md5 needs (a dict key) can make the URL
            # known too (omniglot: the md5 dict's key is the file name in the URL).
            values, need, error = [], None, None
            for node in (url_node, md5_node):
                try:
                    values.append(ev.eval(node))
                except NeedChoice as err:
                    need = need or err
                except (Unknown, KeyError, IndexError, TypeError) as err:
                    error = error or err
            if need is not None:
                worlds.extend({**choices, need.key: option} for option in need.options)
                continue
            if error is not None:
                unresolved.append(f'{file}:{call.lineno} {cls}: {type(error).__name__} {error}')
                continue
            url, md5 = values
            if not (isinstance(url, str) and isinstance(md5, str) and MD5_RE.match(md5) and url.startswith(('http://', 'https://'))):
                unresolved.append(f'{file}:{call.lineno} {cls}: not a URL and md5: {url!r} {md5!r}')
                continue
            # dsmirror fetches https://<host>/<path> for /<host>/<path>; the md5 does not depend on the scheme.
            url = 'https://' + url.split('://', 1)[1]
            if host_of(url) in GOOGLE_DRIVE_HOSTS:
                continue
            if url in pairs and pairs[url][0] != md5:
                raise SystemExit(f'{url} has two md5s in {file}: {pairs[url][0]} and {md5}')
            pairs[url] = (md5, f'{file} {cls}')
        if worlds:
            unresolved.append(f'{file}:{call.lineno} {cls}: more than {MAX_WORLDS} cases')
    return pairs, sorted(set(unresolved))


def read_source(root: Path):
    urls: dict[str, set[str]] = {}
    checksums: dict[str, tuple[str, str]] = {}
    unresolved: list[str] = []
    for sub in ('datasets', 'models'):
        for path in sorted((root / sub).rglob('*.py')):
            rel = str(path.relative_to(root.parent))
            tree = ast.parse(path.read_text(encoding='utf8'))
            for url, _ in urls_in_code(tree):
                urls.setdefault(url, set()).add(rel)
            if sub == 'datasets':
                pairs, unres = checksums_of(Module(tree), rel)
                for url, value in pairs.items():
                    if url in checksums and checksums[url][0] != value[0]:
                        raise SystemExit(f'{url} has two md5s: {checksums[url]} and {value}')
                    checksums[url] = value
                unresolved += unres
    return urls, checksums, unresolved


def version_of(root: Path) -> str:
    m = re.search(r"__version__ = '([^']+)'", (root / 'version.py').read_text())
    if m is None:
        raise SystemExit(f'no __version__ in {root / "version.py"}')
    # Debian builds 0.14.1 from the release tarball, whose version.py says 0.14.1a0.
    return re.sub(r'a0$', '', m.group(1).split('+')[0])


def fetch_wheel(version: str | None) -> Path:
    """The wheel from pip's configured index (pip config list), unpacked into UNPACKED_DIR/<version>."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = f'torchvision=={version}' if version else 'torchvision'
        fetched = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--retries', '0', '--timeout', '10', '-d', tmp, spec], stdout=sys.stderr)
        if fetched.returncode != 0:
            # Exit 3, not 1: the index could not give the wheel, which says nothing about whether the
            # committed file is current (.ci/run reports it and goes on; `--check` failing is exit 1).
            print(f'pip could not download {spec} from its configured index (pip config list)', file=sys.stderr)
            sys.exit(3)
        wheel = next(Path(tmp).glob('torchvision-*.whl'))
        got = wheel.name.split('-')[1].split('+')[0]
        dest = UNPACKED_DIR / got
        if dest.exists():
            shutil.rmtree(dest)
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith('torchvision/') and name.endswith('.py'):
                    z.extract(name, dest)
        (dest / 'WHEEL-NAME').write_text(wheel.name + '\n')
        return dest / 'torchvision'


def ts_str(s: str) -> str:
    return "'" + s.replace('\\', '\\\\').replace("'", "\\'") + "'"


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url.split('{', 1)[0]).hostname or ''


def render(sources: list[tuple[str, str, dict, dict, list]], command: str) -> str:
    out = [
        '// GENERATED by scripts/derive-torchvision-presets.py: do not edit, run it again.',
        f'//   {command}',
        '// Read from ' + ' and '.join(f'torchvision {v} ({origin})' for v, origin, *_ in sources) + '.',
        '// config/presets.ts builds @torchvision and @pytorch from these hosts, config/torchvision-checksums.ts',
        '// the checksums preset from these md5s; test/unit/torchvision-presets.test.ts checks every URL below',
        '// against the preset.',
        '',
        'export interface TorchvisionSource {',
        '  /** torchvision version and where its source was read. */',
        '  version: string',
        '  origin: string',
        '  /** Every URL written in code in torchvision/datasets and torchvision/models -> the files naming it. */',
        '  urls: Readonly<Record<string, readonly string[]>>',
        '  /** Hosts of those URLs that torchvision downloads from (the NOT_DOWNLOADED ones left out), sorted. */',
        '  datasetHosts: readonly string[]',
        '  weightHosts: readonly string[]',
        '  /** URL (as dsmirror fetches it, https) -> md5 torchvision passes to its download helper. */',
        '  checksums: Readonly<Record<string, string>>',
        '  /** Download calls whose URL or md5 the script could not resolve, for a person to read. */',
        '  unresolved: readonly string[]',
        '}',
        '',
        '/** Hosts named in torchvision code that are never downloaded from, with the reason. */',
        'export const TORCHVISION_NOT_DOWNLOADED: Readonly<Record<string, string>> = Object.freeze({',
        *[f'  {ts_str(h)}: {ts_str(r)},' for h, r in sorted(NOT_DOWNLOADED.items())],
        '})',
    ]
    names = []
    for version, origin, urls, checksums, unresolved in sources:
        def hosts(prefix: str) -> list[str]:
            return sorted({host_of(u) for u, files in urls.items() if any(f.startswith(prefix) for f in files)} - set(NOT_DOWNLOADED) - {''})
        name = 'TORCHVISION_' + re.sub(r'\W', '_', version)
        names.append(name)
        out += ['', f'const {name}: TorchvisionSource = {{', f'  version: {ts_str(version)},', f'  origin: {ts_str(origin)},', '  urls: {']
        out += [f'    {ts_str(u)}: [{", ".join(ts_str(f) for f in sorted(files))}],' for u, files in sorted(urls.items())]
        out += ['  },', '  datasetHosts: [']
        out += [f'    {ts_str(h)},' for h in hosts('torchvision/datasets/')]
        out += ['  ],', '  weightHosts: [']
        out += [f'    {ts_str(h)},' for h in hosts('torchvision/models/')]
        out += ['  ],', '  checksums: {']
        for url, (md5, where) in sorted(checksums.items()):
            out.append(f'    {ts_str(url)}: {ts_str("md5:" + md5)}, // {where}')
        out += ['  },', '  unresolved: [']
        out += [f'    {ts_str(u)},' for u in unresolved]
        out += ['  ]', '}']
    out += ['', '/** The current release first. */', f'export const TORCHVISION_SOURCES: readonly TorchvisionSource[] = Object.freeze([{", ".join(names)}])', '']
    text = '\n'.join(out)
    # neostandard: no trailing comma before a closing bracket on its own line is fine; keep it simple.
    return re.sub(r',\n(\s*)([\]}])', r'\n\1\2', text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--version', help='torchvision version to take from the pip index (default: the newest there)')
    parser.add_argument('--source', type=Path, help='an unpacked torchvision package to read instead of downloading the wheel')
    parser.add_argument('--debian', type=Path, default=DEBIAN_TORCHVISION, help='Debian python3-torchvision, the build the e2e tests run')
    parser.add_argument('--output', type=Path, default=OUTPUT)
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 when the output would change (CI)')
    args = parser.parse_args()

    current = args.source or fetch_wheel(args.version)
    wheel_name = current.parent / 'WHEEL-NAME'
    origin = f'{wheel_name.read_text().strip()} from pip\'s index, unpacked, never imported' if wheel_name.exists() else str(current)
    sources = []
    for root, where in ((current, origin), (args.debian, 'Debian bookworm python3-torchvision')):
        if not (root / 'version.py').exists():
            raise SystemExit(f'{root} is not an unpacked torchvision (apt-get install python3-torchvision, or pass --debian)')
        urls, checksums, unresolved = read_source(root)
        sources.append((version_of(root), where, urls, checksums, unresolved))
        print(f'torchvision {version_of(root)} ({root}): {len(urls)} URLs, {len(checksums)} md5s, {len(unresolved)} unresolved calls', file=sys.stderr)
    command = 'npm run derive:torchvision'
    text = render(sources, command)
    if args.check:
        if args.output.read_text(encoding='utf8') != text:
            raise SystemExit(f'{args.output} is not what the script derives from these sources: run `{command}` and commit the result')
        print(f'{args.output.name} is up to date', file=sys.stderr)
        return
    args.output.write_text(text, encoding='utf8')
    print(f'wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}', file=sys.stderr)


if __name__ == '__main__':
    main()
