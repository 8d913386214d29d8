"""Hostile and broken input: each case has a clear message or a documented result, never a crash."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.cli import main
from ctxpack.tokens import get_counter


def _pack(root: Path, query: str = "fix the parser", budget: int = 4000, **kw: object):  # type: ignore[no-untyped-def]
    return pack_for(open_repo(root, load_config(root, index_dir=str(root.parent / f"{root.name}-idx"))),
                    query, budget=budget, **kw)  # type: ignore[arg-type]


def test_empty_repository_packs_an_empty_context(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    pack = _pack(root)
    assert pack.files == () and pack.context == "<context>\n</context>\n"


def test_repository_without_a_supported_language(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "parser-notes.txt").write_text("The parser fails on nested quotes.\n" * 20)
    (root / "README.md").write_text("# Notes\n")
    pack = _pack(root)
    assert pack.files[0].path == "parser-notes.txt" and pack.files[0].mode == "full"


def test_huge_single_line_and_minified_files(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    with open(root / "huge.js", "wb") as fh:  # 50 MB, one line
        fh.truncate(50 * 1024 * 1024 - 1)
        fh.seek(0)
        fh.write(b"var x=1;")
    (root / "bundle.js").write_text("function a(){return 1};" * 30_000)  # ~700 KB, one line
    (root / "ok.py").write_text("def parse():\n    return 1\n")
    stats = build_index(root, load_config(root, index_dir=str(tmp_path / "idx")))
    reasons = {s.path: s.reason for s in stats.skipped}
    assert reasons["huge.js"].startswith("over size limit")
    assert reasons["bundle.js"].startswith("minified")
    assert stats.files == 1


def test_deeply_nested_tree(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    d = root
    for i in range(120):
        d = d / f"d{i}"
    d.mkdir(parents=True)
    (d / "leaf.py").write_text("def deepest_parser():\n    return 42\n")
    pack = _pack(root, "deepest_parser returns the wrong value")
    assert pack.files[0].path.endswith("d119/leaf.py")


def test_many_files_discovery(tmp_path: Path) -> None:
    root = tmp_path / "wide"
    for i in range(3000):
        p = root / f"pkg{i % 30}" / f"m{i}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"def f{i}():\n    return {i}\n")
    stats = build_index(root, load_config(root, index_dir=str(tmp_path / "idx")))
    assert stats.files == 3000
    pack = _pack(root, "f2999 returns the wrong number", budget=2000)
    assert pack.files[0].path == "pkg29/m2999.py" and pack.tokens <= 2000


def test_megabyte_query_and_absurd_budgets(tmp_path: Path) -> None:
    root = tmp_path / "q"
    root.mkdir()
    (root / "a.py").write_text("def parse_header(x):\n    return x\n")
    query = ("parse_header breaks on long input " * 30_000)[:1_000_000]
    pack = _pack(root, query, budget=5_000_000)  # far above any model context: allowed, honoured
    assert pack.files[0].path == "a.py"
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "x", "--budget", "20000000"])
    assert r.exit_code == 2 and "budget too large" in r.stderr
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "x" * 1_000_001])
    assert r.exit_code == 2 and "query too long" in r.stderr


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789.-", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith(".ctxpack"))
_content = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=3000),
    st.text(alphabet="def class return ( ) : { } ; \n\t x y = 1 \" ' # // /* */ <|endoftext|>", max_size=3000),
)
_tree = st.dictionaries(st.lists(_name, min_size=1, max_size=4).map(lambda parts: "/".join(parts)), _content,
                        min_size=0, max_size=12)
_exts = st.sampled_from([".py", ".js", ".ts", ".go", ".rs", ".c", ".rb", ".txt", "", ".tsx", ".kt", ".php"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree, ext=_exts, budget=st.integers(20, 6000), query=st.text(min_size=1, max_size=80).filter(str.strip))
def test_fuzz_random_trees_bytes_and_budgets(tree: dict[str, bytes | str], ext: str, budget: int, query: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="ctxpack-fuzz-"))
    try:
        root = base / "repo"
        root.mkdir()
        for rel, data in tree.items():
            p = root / (rel + ext)
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(data, bytes):
                    p.write_bytes(data)
                else:
                    p.write_text(data, encoding="utf-8", errors="surrogatepass")
            except (OSError, UnicodeEncodeError):
                continue  # a path that is both a file and a directory, etc.
        cfg = load_config(root, index_dir=str(base / "idx"))
        repo = open_repo(root, cfg)
        try:
            pack = pack_for(repo, query, budget=budget)
        except Exception as exc:  # only the documented error for a budget below the frame
            assert type(exc).__name__ == "BudgetError" and budget < 10, exc
            return
        assert get_counter("o200k_base").count(pack.context) == pack.tokens <= budget
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unreadable_directory_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    fifo = root / "pipe.py"
    os.mkfifo(fifo)  # not a regular file: never opened (opening would block)
    stats = build_index(root, load_config(root, index_dir=str(tmp_path / "idx")))
    assert stats.files == 1
