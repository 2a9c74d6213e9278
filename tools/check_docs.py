#!/usr/bin/env python3
"""Checks the documentation as a reader meets it (docs/reliability.md, "CI").

Every git-tracked Markdown file: each relative link resolves to a file of the
repository, and each #anchor to a heading of the Markdown file it names
(GitHub's heading slugs). README.md stays a front page (at most 250 lines).
Nothing points outside the repository (../shared, /work/shared). Fails,
rather than passing vacuously, when it finds no Markdown file.

Usage: tools/check_docs.py   (from anywhere in the checkout)
"""
import os
import re
import subprocess
import sys

MAX_README_LINES = 250


def slugify(heading):
    h = heading.strip().lower()
    h = re.sub(r'`', '', h)
    h = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', h)
    h = re.sub(r'[^\w\- ]', '', h, flags=re.UNICODE)
    return h.replace(' ', '-')


def anchors(path):
    out, counts, fence = set(), {}, False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.lstrip().startswith('```'):
                fence = not fence
                continue
            if fence:
                continue
            m = re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
            if m:
                s = slugify(m.group(2))
                n = counts.get(s, 0)
                out.add(s if n == 0 else f'{s}-{n}')
                counts[s] = n + 1
    return out


def links(text):
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    text = re.sub(r'`[^`\n]*`', '', text)
    for m in re.finditer(r'\[[^\]]*\]\(([^)\s]+)\)', text):
        yield m.group(1)


def main():
    root = subprocess.run(['git', 'rev-parse', '--show-toplevel'],
                          capture_output=True, text=True, check=True).stdout.strip()
    os.chdir(root)
    # benchmarks/plots/ holds generated fragments of BENCHMARKS.md, whose
    # links are relative to BENCHMARKS.md; they are checked there.
    files = [f for f in subprocess.run(['git', 'ls-files', '*.md'],
                                       capture_output=True, text=True,
                                       check=True).stdout.split()
             if not f.startswith('benchmarks/plots/')]
    if not files:
        print('check_docs: no Markdown file found; nothing was checked')
        return 1
    problems = []
    for f in files:
        with open(f, encoding='utf-8') as handle:
            text = handle.read()
        if re.search(r'(\.\./shared/|/work/shared)', text):
            problems.append(f'{f}: refers to a path outside the repository')
        for target in links(text):
            if re.match(r'^[a-z]+:', target):
                continue
            path, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            if not os.path.exists(dest):
                problems.append(f'{f}: link {target}: no such file {dest}')
            elif anchor:
                if not dest.endswith('.md'):
                    problems.append(f'{f}: link {target}: an anchor into a non-Markdown file')
                elif anchor not in anchors(dest):
                    problems.append(f'{f}: link {target}: no heading #{anchor} in {dest}')
    with open('README.md', encoding='utf-8') as handle:
        readme_lines = sum(1 for _ in handle)
    if readme_lines > MAX_README_LINES:
        problems.append(f'README.md: {readme_lines} lines; the front page keeps to '
                        f'{MAX_README_LINES} (the rest belongs in docs/)')
    for problem in problems:
        print(f'check_docs: {problem}')
    print(f'check_docs: {len(files)} Markdown files, {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
