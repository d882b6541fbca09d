"""The fast paths to canonical bytes give exactly what securesystemslib's
reference encoder gives, on real metadata, and python-tuf's client accepts
what they sign."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Targets

from tests.tuf_repo.support import TufServer, make_keyring, refreshed_updater
from tuf_repo.binmeta import BinMetadata, entry_text
from tuf_repo.canonical import canonical, spliced_metadata_bytes
from tuf_repo.errors import RepositoryStateError
from tuf_repo.keys import KeyRing
from tuf_repo.repository import publish
from tuf_repo.store import MetadataStore

SHA = "ab" * 32
PATHS = [
    "packages/a/a-1.0.tar.gz",
    "packages/a/a-1.0.tar.gz.metadata",
    "packages/a/a-1.0-py3-none-any.whl",
    "packages/a-b/A_b-1.0+local.zip",
    "packages/z/z-9!1.0.tar.gz",
    "simple/a/index.html",
    "simple/a/index.json",
    "simple/ünï/index.json",
]


@pytest.fixture
def keyring() -> KeyRing:
    # ECDSA keys are PEM, whose newlines canonical JSON leaves unescaped: the
    # root and bins metadata then take the reference encoder's path.
    return replace(make_keyring(), online=CryptoSigner.generate_ecdsa())


@pytest.mark.parametrize("text", ["plain", "ünï", 'quote " and \\ backslash', "new\nline\x01"])
def test_canonical_matches_the_reference(text: str) -> None:
    signed = {"x": text, "n": [1, True, None], "nested": {"b": 2, "a": text}}
    payload, is_json = canonical(signed)
    assert payload == encode_canonical(signed).encode()
    if is_json:
        assert json.loads(payload) == signed


def _reference(entries: dict[str, dict[str, Any]], md: BinMetadata) -> bytes:
    signed = {
        "_type": "targets",
        "expires": md.expires_text,
        "spec_version": md.spec_version,
        "targets": entries,
        "version": md.version,
    }
    return encode_canonical(signed).encode()


def random_batches_match_the_reference_encoder(
    now: datetime,
    rng: random.Random,
    paths: list[str],
    rounds: int,
    most_changes: int,
    lengths: list[int],
) -> None:
    """Apply ``rounds`` random batches of 1 to ``most_changes`` changes (a third removals) and
    compare each result, and the bytes as stored, with the reference encoder's."""
    md = BinMetadata.new(now)
    entries: dict[str, dict[str, Any]] = {}
    for round_ in range(rounds):
        batch: dict[str, str | None] = {}
        expected = dict(entries)
        for path in rng.sample(paths, rng.randint(1, most_changes)):
            if rng.random() < 0.3:
                batch[path] = None
                expected.pop(path, None)
            else:
                length = rng.choice(lengths)
                batch[path] = entry_text(path, length, SHA)
                expected[path] = {"length": length, "hashes": {"sha256": SHA}}
        assert md.apply(batch) == (expected != entries), round_
        entries = expected
        md.set_version(round_ + 1, now)
        assert md.signed_text().encode() == _reference(entries, md), round_
        stored = spliced_metadata_bytes([], md.signed_text().encode())
        assert BinMetadata.from_bytes(stored, "bin") == md


def test_bin_edits_match_the_reference_encoder(now: datetime) -> None:
    random_batches_match_the_reference_encoder(
        now, random.Random(7), PATHS, rounds=300, most_changes=4, lengths=[0, 1, 7, 10**9]
    )


def test_large_batches_match_the_reference_encoder(now: datetime) -> None:
    """Batches of many changes, as a first look's files make: runs of additions between
    existing entries, replacements, removals of present and absent paths."""
    paths = [f"packages/p{i % 7}/p-{i}.whl" for i in range(300)] + PATHS
    random_batches_match_the_reference_encoder(
        now, random.Random(11), paths, rounds=40, most_changes=150, lengths=[0, 5, 10**9]
    )


def rng_order(count: int) -> list[int]:
    order = list(range(count))
    random.Random(3).shuffle(order)
    return order


def test_a_full_bin_built_in_one_batch(now: datetime) -> None:
    md = BinMetadata.new(now)
    paths = [f"packages/p{i}/p{i}-1.0.tar.gz" for i in rng_order(500)]
    assert md.apply({p: entry_text(p, 5, SHA) for p in paths})
    expected = {p: {"length": 5, "hashes": {"sha256": SHA}} for p in paths}
    assert md.signed_text().encode() == _reference(expected, md)
    assert md.apply({p: None for p in paths[::2]})
    for p in paths[::2]:
        del expected[p]
    assert md.signed_text().encode() == _reference(expected, md)


@pytest.mark.parametrize(
    "signed",
    [
        '{"_type":"targets","delegations":{},"expires":"2030-01-01T00:00:00Z"}',
        '{"_type":"targets","expires":"2030-01-01T00:00:00Z","spec_version":"1.0.31",'
        '"targets":{"packages/a/a":{"custom":1,"hashes":{"sha256":"aa"},"length":1}},"version":2}',
        '{"_type":"targets","expires":"2030-01-01T00:00:00Z","spec_version":"1.0.31",'
        '"targets":{},"version":2,"x":1}',
        '{"_type":"root","expires":"2030-01-01T00:00:00Z","spec_version":"1.0.31",'
        '"targets":{},"version":2}',
    ],
)
def test_a_bin_in_another_form_is_refused(signed: str) -> None:
    with pytest.raises(RepositoryStateError, match=r"bin-00\.json"):
        BinMetadata.from_bytes(f'{{"signatures":[],"signed":{signed}}}'.encode(), "bin-00.json")


def _stored(store: MetadataStore) -> dict[str, bytes]:
    return {name: store.read(name) or b"" for name in store.list()}


def test_real_metadata_is_canonical_and_verifies(
    server: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    changes = [server.add_target(p, p.encode()) for p in PATHS if "ü" not in p]
    publish(server.store, keyring, changes, now)
    publish(server.store, keyring, [server.add_target(PATHS[0], b"v2")], now)

    fallbacks = 0
    for name, data in _stored(server.store).items():
        signed = json.loads(data)["signed"]
        reference = encode_canonical(signed).encode()
        payload, is_json = canonical(signed)
        assert payload == reference, name
        fallbacks += not is_json
        if ".bin-" in name:
            assert BinMetadata.from_bytes(data, name).signed_text().encode() == reference
        # python-tuf reads every file and computes the same signed bytes.
        assert Metadata.from_bytes(data).signed_bytes == reference, name
    assert fallbacks >= 2  # root and bins hold PEM keys

    # A non-ASCII target in real metadata, through both fast paths.
    name = max(n for n in _stored(server.store) if n.endswith(".bin-00.json"))
    md = BinMetadata.from_bytes(server.store.read(name) or b"", name)
    signed = json.loads(server.store.read(name) or b"")["signed"]
    md.apply({PATHS[-1]: entry_text(PATHS[-1], 3, SHA)})
    signed["targets"][PATHS[-1]] = {"length": 3, "hashes": {"sha256": SHA}}
    assert md.signed_text().encode() == encode_canonical(signed).encode()
    assert canonical(signed) == (encode_canonical(signed).encode(), True)
    assert Targets.from_dict(json.loads(md.signed_text())).targets[PATHS[-1]].length == 3

    updater = refreshed_updater(server, tmp_path)
    for path in PATHS[:-1]:
        info = updater.get_targetinfo(path)
        assert info is not None, path
        target = updater.download_target(info, filepath=str(tmp_path / "file"))
        expected = b"v2" if path == PATHS[0] else path.encode()
        assert Path(target).read_bytes() == expected
