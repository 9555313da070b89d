"""A saved VW model is data: paths and file contents never become VW options (issue 9)."""

from __future__ import annotations

import shutil
import struct

import pytest

from optimizer.allocate.registry import EXPLORATIONS
from optimizer.allocate.vw import VWPolicy
from optimizer.errors import InputError
from optimizer.records import Context, Creative

ARMS = [Creative.from_text("c", f"headline {i}", "body", "Shop now") for i in range(4)]
CTX = Context("a", {"age": 30.0, "device": "mobile"})


def trained(tmp_path, name: str = "p.vw") -> VWPolicy:
    policy = VWPolicy(seed=1)
    for i in range(40):
        policy.learn_logged(CTX, ARMS, i % 4, 0.25, float(i % 4 == 2))
    policy.save(tmp_path / name)
    return policy


def copy_saved(src, dst) -> None:
    shutil.copy(src, dst)
    shutil.copy(f"{src}.json", f"{dst}.json")


def test_a_path_with_a_space_saves_and_loads(tmp_path):
    folder = tmp_path / "my models"
    folder.mkdir()
    policy = trained(folder, "policy one.vw")
    loaded = VWPolicy.load(folder / "policy one.vw")
    assert loaded.distribution(CTX, ARMS) == pytest.approx(policy.distribution(CTX, ARMS))


@pytest.mark.parametrize("exploration", sorted(EXPLORATIONS))
def test_every_exploration_saves_and_loads(tmp_path, exploration):
    policy = VWPolicy(exploration=exploration, seed=3)
    for i in range(20):
        policy.learn_logged(CTX, ARMS, i % 4, 0.25, float(i % 4 == 1))
    policy.save(tmp_path / "p.vw")
    loaded = VWPolicy.load(tmp_path / "p.vw")
    assert loaded.exploration == exploration and loaded.updates == 20


def test_a_path_holding_vw_options_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained(tmp_path, "m.vw")
    crafted = tmp_path / "m.vw --readable_model leak.txt"
    copy_saved(tmp_path / "m.vw", crafted)
    loaded = VWPolicy.load(crafted)
    loaded.distribution(CTX, ARMS)
    loaded.vw.finish()  # VW writes a readable model, when asked for one, as it finishes
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.vw",
        "m.vw --readable_model leak.txt",
        "m.vw --readable_model leak.txt.json",
        "m.vw.json",
    ]


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am not a model\n" * 20, b"\x07\x00\x00\x009.11.9\x00" + b"\xff" * 40],
    ids=["empty", "text", "header-then-junk"],
)
def test_a_file_that_is_not_a_model_is_a_one_line_input_error(tmp_path, content):
    trained(tmp_path, "m.vw")
    (tmp_path / "m.vw").write_bytes(content)
    with pytest.raises(InputError, match=r"m\.vw: not a Vowpal Wabbit model file \(") as info:
        VWPolicy.load(tmp_path / "m.vw")
    assert "\n" not in str(info.value)


def test_a_truncated_model_is_a_one_line_input_error(tmp_path):
    trained(tmp_path, "m.vw")
    data = (tmp_path / "m.vw").read_bytes()
    header_end = data.index(b"\x00", data.index(b" --cb_adf")) + 1
    (tmp_path / "m.vw").write_bytes(data[: header_end + 6])  # inside the checksum
    with pytest.raises(InputError, match=r"VW cannot read it: Unexpected end of file") as info:
        VWPolicy.load(tmp_path / "m.vw")
    assert "\n" not in str(info.value) and "vw-model-" not in str(info.value)


@pytest.mark.parametrize("meta", ['{"policy": "vw", "format": 2}', "{not json", "[]"])
def test_broken_metadata_is_an_input_error(tmp_path, meta):
    trained(tmp_path, "m.vw")
    (tmp_path / "m.vw.json").write_text(meta)
    with pytest.raises(InputError, match=r"m\.vw\.json: not the metadata of a saved VW policy"):
        VWPolicy.load(tmp_path / "m.vw")


def test_a_model_of_the_earlier_example_format_is_refused(tmp_path):
    trained(tmp_path, "m.vw")
    (tmp_path / "m.vw.json").write_text(
        '{"policy": "vw", "exploration": "squarecb", "params": {}, "seed": 1, "updates": 3}'
    )
    with pytest.raises(InputError, match=r"saved by an earlier version \(example format 1"):
        VWPolicy.load(tmp_path / "m.vw")


def _murmur3(data: bytes, seed: int) -> int:
    """MurmurHash3 x86 32-bit, as VW hashes a model header."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def mix(k: int) -> int:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        return (k * c2) & mask

    h = seed
    blocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: 4 * blocks]):
        h ^= mix(k)
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[4 * blocks :]
    if tail:
        h ^= mix(int.from_bytes(tail, "little"))
    h ^= len(data)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mult) & mask
    return h ^ (h >> 16)


def _with_stored_options(data: bytes, extra: bytes) -> bytes:
    """A valid model whose header also stores ``extra`` options, with the header's checksum
    recomputed: what an attacker who can write a model file can craft."""
    fields, pos = [], 0

    def take(n: int) -> bytes:
        nonlocal pos
        fields.append(data[pos : pos + n])
        pos += n
        return fields[-1]

    for _ in range(2):  # version, model id
        take(struct.unpack("<I", take(4))[0])
    for size in (1, 4, 4, 4, 4, 4, 4):  # marker, labels, bits, lda, ngram, skips
        take(size)
    options = data[pos + 4 : pos + 4 + struct.unpack("<I", data[pos : pos + 4])[0]]
    pos += 4 + len(options)
    options = options.rstrip(b"\x00") + b" " + extra + b"\x00"
    fields += [struct.pack("<I", len(options)), options]
    checksum = 0
    for part in fields[2:]:  # VW hashes the header from the model id on, read by read
        checksum = _murmur3(part, checksum)
    assert data[pos : pos + 4] == struct.pack("<I", 4)
    return b"".join(fields) + data[pos : pos + 4] + struct.pack("<I", checksum) + data[pos + 8 :]


def test_a_model_whose_header_asks_for_a_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained(tmp_path, "m.vw")
    leak = tmp_path / "leak.txt"
    data = (tmp_path / "m.vw").read_bytes()
    (tmp_path / "m.vw").write_bytes(_with_stored_options(data, b"--readable_model " + bytes(leak)))
    with pytest.raises(InputError, match=r"m\.vw: the model asks VW for '--readable_model'"):
        VWPolicy.load(tmp_path / "m.vw").vw.finish()
    assert not leak.exists()
