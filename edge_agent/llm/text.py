"""Text in, text out: a bundle's tokenizer and chat template around the token-id model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tokenizers import Tokenizer

from edge_agent.llm.bundle import Bundle
from edge_agent.llm.generate import Generator
from edge_agent.llm.onnx_lm import OnnxCausalLM, SessionSettings


@dataclass
class TextModel:
    bundle: Bundle
    lm: OnnxCausalLM
    tokenizer: Tokenizer
    _grammar_tokenizer: Any = field(default=None, repr=False)

    @classmethod
    def load(cls, bundle: Bundle, settings: SessionSettings | None = None) -> TextModel:
        return cls(
            bundle, OnnxCausalLM(bundle, settings), Tokenizer.from_file(str(bundle.tokenizer_path))
        )

    def grammar_tokenizer(self) -> Any:
        """The llguidance tokenizer for constraints, built on first use."""
        if self._grammar_tokenizer is None:
            from edge_agent.llm.constraints import load_ll_tokenizer

            manifest = self.bundle.manifest
            self._grammar_tokenizer = load_ll_tokenizer(
                self.tokenizer, manifest.architecture.vocab_size, manifest.tokens.eos_ids
            )
        return self._grammar_tokenizer

    def prompt_ids(self, user_text: str, *, chat: bool = True) -> list[int]:
        """Token ids for ``user_text``, wrapped in the chat template when there is one."""
        tokens = self.bundle.manifest.tokens
        template = self.bundle.manifest.chat_template
        text = render_chat(template, user_text) if chat and template else user_text
        ids: list[int] = self.tokenizer.encode(text).ids
        bos = tokens.bos_id
        if tokens.add_bos and bos is not None and ids[:1] != [bos]:
            ids = [bos, *ids]
        return ids

    def complete(
        self,
        user_text: str,
        *,
        max_new_tokens: int | None = None,
        chat: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> str:
        """Greedy answer to ``user_text``; ``on_text`` receives the text as it grows."""
        manifest = self.bundle.manifest
        result = Generator(self.lm, decode=self.tokenizer.decode).generate(
            self.prompt_ids(user_text, chat=chat),
            max_new_tokens=max_new_tokens or manifest.generation.max_new_tokens,
            stop_ids=manifest.tokens.stop_ids,
            on_text=on_text,
        )
        return result.text or ""


def render_chat(template: str, user_text: str) -> str:
    """Render a Hugging Face chat template for one user turn, ready for the reply."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=[{"role": "user", "content": user_text}],
        add_generation_prompt=True,
        bos_token="",  # the BOS id is added by prompt_ids from the manifest, not as text
        eos_token="",
    )
