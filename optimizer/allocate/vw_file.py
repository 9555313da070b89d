"""Loading a saved Vowpal Wabbit model as data, never as a command line.

A VW model file starts with a header that holds, among other things, the command-line
options the model was trained with; VW re-applies them on load. Pasting a path into an
option string, or loading a crafted header, would let a file name or a file's contents turn
on options that write files (``--readable_model``, ``--invert_hash``, ``-f``) or read data
(``-d``). So a model is read here first: the header is parsed, its stored options must all
be ones a policy of ours can have, and VW then loads a private copy of the checked bytes
through an argument list (``-i`` and one path token), never a string split on spaces.
"""

from __future__ import annotations

import re
import struct
import tempfile
from pathlib import Path

from optimizer.errors import InputError

MAX_MODEL_BYTES = 256 * 1024 * 1024

# Options VW stores in the header of a model we train (cb_explore_adf and its exploration
# and learning settings), with whether each takes a value. Anything else is refused.
STORED_OPTIONS: dict[str, bool] = {
    "--cb_adf": False,
    "--cb_explore_adf": False,
    "--cb_type": True,
    "--csoaa_ldf": True,
    "--csoaa_rank": False,
    "--quadratic": True,
    "--interactions": True,
    "--cubic": True,
    "--ignore_linear": True,
    "--squarecb": False,
    "--gamma_scale": True,
    "--gamma_exponent": True,
    "--epsilon": True,
    "--softmax": False,
    "--lambda": True,
    "--bag": True,
    "--cover": True,
    "--psi": True,
    "--nounif": False,
    "--first_only": False,
    "--regcb": False,
    "--regcbopt": False,
    "--mellowness": True,
    "--cb_min_cost": True,
    "--cb_max_cost": True,
    "--clip_p": True,
    "--coin": False,
    "--learning_rate": True,
    "--power_t": True,
    "--l2": True,
    "--noconstant": False,
    "--bit_precision": True,
    "--random_seed": True,
    "--hash_seed": True,
}
_VERSION = re.compile(rb"\d{1,3}\.\d{1,3}\.\d{1,3}\x00")
_VALUE = re.compile(r"[A-Za-z0-9_.:+-]{1,64}")


def _not_a_model(path: Path, why: str) -> InputError:
    return InputError(
        f"{path}: not a Vowpal Wabbit model file ({why}); give a model saved by "
        "'learn' or 'run' (policy.vw)"
    )


def stored_options(data: bytes, path: Path) -> list[str]:
    """The option tokens in a model header; raises ``InputError`` when it is not one.

    Header layout (VW 9, ``save_load_header``): version (u32 length, text with NUL), model
    id (u32 length, text), the byte ``m``, min and max label (f32), bit count (u32), lda
    (u32), ngram and skip counts (u32 each, 0 for our models), options (u32 length, text)."""
    pos = 0

    def field(size: int, what: str) -> bytes:
        nonlocal pos
        if pos + size > len(data):
            raise _not_a_model(path, f"it ends inside the {what}")
        out = data[pos : pos + size]
        pos += size
        return out

    def text(what: str, limit: int) -> bytes:
        (length,) = struct.unpack("<I", field(4, what))
        if length > limit:
            raise _not_a_model(path, f"its {what} is {length} bytes long")
        return field(length, what)

    if not _VERSION.fullmatch(text("version", 16)):
        raise _not_a_model(path, "no VW version at the start")
    text("model id", 1024)
    if field(1, "model marker") != b"m":
        raise _not_a_model(path, "no model marker")
    field(16, "label range, bit count and lda")
    ngrams, skips = struct.unpack("<II", field(8, "ngram settings"))
    if ngrams or skips:
        raise _not_a_model(path, "it uses n-grams, which our policies never do")
    try:
        options = text("options", 4096).rstrip(b"\x00").decode("ascii").split()
    except UnicodeDecodeError:
        raise _not_a_model(path, "its options are not text") from None
    _check_options(options, path)
    return options


def _check_options(tokens: list[str], path: Path) -> None:
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name not in STORED_OPTIONS:
            raise InputError(
                f"{path}: the model asks VW for {name!r}, which a saved policy never has "
                "(options that write or read files are refused); retrain it with 'learn'"
            )
        if STORED_OPTIONS[name]:
            i += 1
            if i == len(tokens) or not _VALUE.fullmatch(tokens[i]):
                raise _not_a_model(path, f"option {name} has no valid value")
        i += 1


def load_workspace(path: Path):  # -> vowpalwabbit.pyvw.Workspace
    """VW loaded from the model at ``path`` after checking its header.

    Raises ``FileNotFoundError`` when there is no file and ``InputError`` when the file is
    not a model we could have saved."""
    from vowpalwabbit import pyvw

    path = Path(path)
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise _not_a_model(path, f"over {MAX_MODEL_BYTES // 2**20} MiB")
    data = path.read_bytes()
    stored_options(data, path)
    with tempfile.TemporaryDirectory(prefix="vw-model-") as folder:
        copy = Path(folder) / "model.vw"
        copy.write_bytes(data)
        try:
            return pyvw.Workspace(arg_list=["--quiet", "-i", str(copy)])
        except RuntimeError as exc:
            raise _not_a_model(path, f"VW cannot read it: {_vw_reason(exc)}") from None


def _vw_reason(exc: Exception) -> str:
    """VW's own reason, one line, without the private copy's path."""
    text = " ".join(str(exc).split())
    match = re.search(r"Error Details: (.*?)(?:, model files = .*)?$", text)
    reason = match.group(1) if match else text.split(", model files")[0]
    return reason.rstrip(".") or "no reason given"
