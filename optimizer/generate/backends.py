"""Text generation backends: transformers (local, CPU or CUDA) and OpenAI-compatible HTTP.

A backend completes chat requests; ``prefill`` starts the assistant's answer (a small model
follows a format far better when its answer is already begun). Both return only the
continuation after the prefill.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from optimizer.errors import OptimizerError
from optimizer.generate.model import ModelInfo, load_causal_lm
from optimizer.identity import file_digest


@dataclass(frozen=True)
class ChatRequest:
    system: str
    user: str
    prefill: str = ""


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.9
    top_p: float = 0.95
    max_new_tokens: int = 40
    stop: tuple[str, ...] = ("\n\n", "\nHeadline", "\nFormat", "\nExample", "<|im_end|>")
    # Two-line answers: when the first line ends, continue with this text (e.g. "Body:") and
    # stop at the end of that line. A backend that cannot force text ignores it (the
    # pipeline then asks for a missing body in a second call).
    follow: str = ""
    # Two-line answers: the most characters of each line. A first line past its limit is
    # sampled again (see generate/forms.py); the second line ends once past its limit.
    line_chars: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    info: ModelInfo

    def complete(
        self,
        requests: Sequence[ChatRequest],
        sampling: Sampling,
        seed: int,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]: ...


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


class TransformersBackend:
    """Batched sampling with transformers; CUDA with bf16 when available, else the CPU."""

    def __init__(
        self,
        model: str,
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 16,
        dtype: str = "auto",
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model, self.tokenizer, self.info, self.device = load_causal_lm(model, device, dtype)
        # bfloat16 on the CPU: generate from a bfloat16 copy, train the float32 model
        self.bf16_copy = dtype == "bfloat16" and not self.device.startswith("cuda")
        self._copy: tuple[str, Any] | None = None  # (version, the copy)
        self.base_info = self.info
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = batch_size
        self._sampler = None  # built on first use, again when the served model changes

    # -- LoRA versions (the refresh stage) ------------------------------------------------------
    def trainable(self, rank: int = 8):
        """The model with a LoRA adapter on the attention projections, ready to train."""
        from peft import LoraConfig, PeftModel, get_peft_model

        if not isinstance(self.model, PeftModel):
            config = LoraConfig(
                r=rank,
                lora_alpha=2 * rank,
                lora_dropout=0.0,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                task_type="CAUSAL_LM",
            )
            self.model = get_peft_model(self.model, config)
        return self.model

    def save_adapter(self, folder: Path) -> str:
        """Save the adapter, make it the served version; returns the version string."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        return self._serve_adapter(folder)

    def load_adapter(self, folder: Path) -> str:
        """Serve (and keep training) the adapter saved in ``folder``."""
        from peft import PeftModel

        base = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        self.model = PeftModel.from_pretrained(base, folder, is_trainable=True)
        self.model.eval()
        return self._serve_adapter(folder)

    def _serve_adapter(self, folder: Path) -> str:
        """The version string of the adapter in ``folder``: the base and the file's hash."""
        digest = file_digest(folder / "adapter_model.safetensors")
        b = self.base_info
        self.info = ModelInfo(b.id, b.revision, b.path, adapter=f"lora-{digest[:10]}")
        return self.info.version

    def served(self):
        """The model that generates: ``self.model``, or with ``dtype: bfloat16`` on the CPU a
        bfloat16 copy of it with any LoRA adapter merged in, made again for a new version."""
        if not self.bf16_copy:
            return self.model
        if self._copy is None or self._copy[0] != self.info.version:
            import copy

            import torch

            model = copy.deepcopy(self.model)
            if hasattr(model, "merge_and_unload"):
                model = model.merge_and_unload()
            self._copy = (self.info.version, model.to(torch.bfloat16).eval())
        return self._copy[1]

    def _prompt(self, r: ChatRequest) -> str:
        messages = [{"role": "system", "content": r.system}, {"role": "user", "content": r.user}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        else:
            text = f"{r.system}\n\n{r.user}\n\n"
        return text + r.prefill

    def complete(self, requests, sampling, seed, progress=None) -> list[str]:
        """Continuations of ``requests``; row ``i`` samples with seed ``seed + i`` (see
        ``sampler.py``)."""
        import torch

        from optimizer.generate.sampler import Sampler

        model = self.served()
        if self._sampler is None or self._sampler.model is not model:
            vocab = self._sampler.vocab if self._sampler is not None else None
            self._sampler = Sampler(model, self.tokenizer, self.device, vocab)
        out: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            prompts = [self.tokenizer(self._prompt(r))["input_ids"] for r in chunk]
            with torch.inference_mode():
                rows = self._sampler.sample(prompts, sampling, seed, start)
            for text in self.tokenizer.batch_decode(rows, skip_special_tokens=True):
                out.append(text if sampling.follow else cut_at_stop(text, sampling.stop))
            if progress is not None:
                progress(len(chunk))
        return out


class OpenAIBackend:
    """Any OpenAI-compatible server (vLLM, TGI, llama.cpp server): ``/v1/chat/completions``.

    Chat APIs take no prefill, so the prefill is appended to the user message as the start
    of the expected format and the answer is returned as the continuation.
    """

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.info = ModelInfo(id=model, revision=f"openai:{self.base_url}", path=self.base_url)

    def _post(self, payload: dict) -> dict:
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            raise OptimizerError(
                f"generation.base_url: {self.base_url} did not answer ({exc}); "
                "check that the server runs and speaks the OpenAI API"
            ) from None

    def complete(self, requests, sampling, seed, progress=None) -> list[str]:
        out = []
        for i, r in enumerate(requests):
            user = r.user + (f"\n\nAnswer starting with: {r.prefill}" if r.prefill else "")
            data = self._post(
                {
                    "model": self.model,
                    "seed": seed + i,
                    "messages": [
                        {"role": "system", "content": r.system},
                        {"role": "user", "content": user},
                    ],
                    "temperature": sampling.temperature,
                    "top_p": sampling.top_p,
                    "max_tokens": sampling.max_new_tokens,
                    "stop": [s for s in sampling.stop if s.strip()][:4],
                }
            )
            try:
                text = data["choices"][0]["message"]["content"] or ""
            except (KeyError, IndexError, TypeError):
                raise OptimizerError(
                    f"generation.base_url: unexpected answer from {self.base_url}: {data!r:.200}"
                ) from None
            if r.prefill and text.lstrip().startswith(r.prefill.strip()):
                text = text.lstrip()[len(r.prefill.strip()) :]
            out.append(cut_at_stop(text, sampling.stop))
            if progress is not None:
                progress(1)
        return out
