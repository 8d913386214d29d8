"""The index store through its public methods (real LanceDB on disk, real parsing): issue 16.

Publishing a manifest, the journal overlay of a deferred update, lock contention and
damaged or foreign manifests. The pipeline tests cover the store too, but only from above.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ctxpack.config import Config
from ctxpack.embed.vectors import VectorStore
from ctxpack.errors import IndexCorrupt, IndexLocked, IndexNotFound, IndexOutdated
from ctxpack.index.process import process_file
from ctxpack.models import ProcessedFile, Skipped, SourceFile, Symbol, uses_of
from ctxpack.store.manifest import SCHEMA_VERSION
from ctxpack.store.tables import IndexStore

CFG = Config()
FILES = {
    "app/cart.py": "class Cart:\n    def total(self):\n        return sum(self.items)\n",
    "app/checkout.py": "from app.cart import Cart\n\n\ndef checkout(cart: Cart):\n    return cart.total()\n",
    "README.md": "# shop\n\nA tiny shop.\n",
}


def _processed(path: str, text: str) -> ProcessedFile:
    data = text.encode()
    language = "python" if path.endswith(".py") else "text"
    return process_file(SourceFile(path, language, len(data), 1, hashlib.sha1(data).hexdigest(), text), CFG)


def _write(store: IndexStore, files: dict[str, str], *, removed: tuple[str, ...] = (), rebuild: bool = False,
           defer: bool = False, skipped: tuple[Skipped, ...] = ()) -> None:
    parsed = [_processed(p, t) for p, t in files.items()]
    with store.lock():
        store.write(encoding=CFG.encoding, settings="test", rebuild=rebuild, removed=[*removed, *files],
                    files=[p.row for p in parsed], symbols=[s for p in parsed for s in p.symbols],
                    chunks=[c for p in parsed for c in p.chunks], skipped=list(skipped), defer=defer)


@pytest.fixture()
def store(tmp_path: Path) -> IndexStore:
    s = IndexStore(tmp_path / "idx")
    _write(s, FILES, rebuild=True, skipped=(Skipped("logo.png", "binary"),))
    return s


def test_a_write_publishes_a_manifest_that_names_what_was_written(store: IndexStore) -> None:
    man = store.manifest()
    assert store.exists() and man.schema == SCHEMA_VERSION and man.encoding == CFG.encoding
    assert set(man.versions) == {"files", "symbols", "chunks"} and man.updates == 0 and not man.pending
    assert man.skipped == (Skipped("logo.png", "binary"),)
    snap = store.load()
    assert sorted(snap.files) == sorted(FILES)
    assert {s.name for s in snap.symbols["app/cart.py"] if s.kind == "def"} >= {"Cart", "total"}
    assert [c.path for c in store.chunks_for(["app/checkout.py"])] == ["app/checkout.py"]
    assert "def checkout" in store.chunks_for(["app/checkout.py"])[0].text

    _write(store, {"app/cart.py": FILES["app/cart.py"] + "\n\ndef empty():\n    return Cart()\n"})
    after = store.manifest()
    assert after.updates == 1 and after.db == man.db and after.versions != man.versions
    assert "empty" in {s.name for s in store.load().symbols["app/cart.py"]}
    assert [c.path for c, _ in store.search_chunks("checkout cart total")][:1] == ["app/checkout.py"]


def test_a_loaded_snapshot_keeps_definitions_and_counts_references(store: IndexStore) -> None:
    snap = store.load()
    parsed = _processed("app/checkout.py", FILES["app/checkout.py"])
    assert all(s.kind == "def" for ss in snap.symbols.values() for s in ss)
    assert snap.uses["app/checkout.py"] == uses_of(parsed.symbols)  # what the parse found, in first-use order
    refs = [s for s in parsed.symbols if s.kind != "def"]
    assert sum(n for _, _, n in snap.uses["app/checkout.py"]) == len(refs)
    assert ("app.cart", True, 1) in snap.uses["app/checkout.py"]  # the import, told apart from a call
    assert "README.md" not in snap.uses  # files without references are absent


def test_uses_count_each_name_once_in_first_use_order() -> None:
    refs = [Symbol("a.py", name, "ref", cat, 1, 1) for name, cat in
            [("b", "call"), ("a", "call"), ("b", "call"), ("b", "import"), ("a", "call")]]
    defn = Symbol("a.py", "f", "def", "function", 1, 2)
    assert uses_of([refs[0], defn, *refs[1:]]) == (("b", False, 2), ("a", False, 2), ("b", True, 1))


def test_a_deferred_update_is_a_journal_the_readers_overlay(store: IndexStore) -> None:
    store.load()  # the snapshot cache a deferred update builds on
    before = store.manifest()
    new_text = "def checkout(cart):\n    return apply_discount(cart.total())\n"
    _write(store, {"app/checkout.py": new_text, "app/discount.py": "def apply_discount(x):\n    return x\n"},
           defer=True)
    man = store.manifest()
    assert man.pending and man.versions == before.versions  # the tables were not written
    snap = store.load()
    assert "app/discount.py" in snap.files
    assert "apply_discount" in store.chunks_for(["app/checkout.py"])[0].text  # from the journal
    assert "class Cart" in store.chunks_for(["app/cart.py"])[0].text  # from the tables
    hashes = {sp.content_hash for sp in snap.chunks["app/discount.py"]}
    assert set(store.chunk_texts(hashes)) == hashes

    with store.lock():
        folded = store.fold()
    assert not folded.pending and folded.versions != before.versions
    again = store.load()
    assert again.files == snap.files and again.chunks == snap.chunks
    assert "apply_discount" in store.chunks_for(["app/checkout.py"])[0].text


def test_a_second_writer_waits_then_gives_up(store: IndexStore) -> None:
    with store.lock():
        with pytest.raises(IndexLocked, match="being written by another process"):
            with IndexStore(store.dir).lock(wait_s=0.3):
                pass
    with IndexStore(store.dir).lock(wait_s=0.3):  # released with its holder
        pass


def test_the_embedding_cache_uses_the_same_lock_helper(tmp_path: Path) -> None:
    vs = VectorStore(tmp_path / "vectors")
    with vs.lock():
        with pytest.raises(IndexLocked, match="embeddings are being computed"):
            with VectorStore(vs.dir).lock(wait_s=0.3):
                pass


def test_missing_corrupt_and_foreign_manifests(store: IndexStore, tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound):
        IndexStore(tmp_path / "nothing").manifest()
    doc = json.loads(store.manifest_path.read_text())
    store.manifest_path.write_text(json.dumps({**doc, "schema": SCHEMA_VERSION + 1}))
    with pytest.raises(IndexOutdated, match="ctxpack index --rebuild"):
        store.load()
    store.manifest_path.write_text("{not json")
    with pytest.raises(IndexCorrupt, match="manifest is corrupt"):
        store.manifest()
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(IndexCorrupt, match="is not a ctxpack index"):
        with IndexStore(foreign).lock():
            pass
